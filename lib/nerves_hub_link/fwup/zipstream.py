"""Streaming ZIP local-entry reader (push style), as fwup/libarchive read a ``.fw`` file.

``ZipStream(handler).feed(piece)`` parses local headers only, never seeks and never needs
the central directory. Each ``feed`` is one "client read" of libarchive: data chunks are
the inflate output of the rest of the current piece (at most ``max_chunk`` bytes each), so
progress granularity matches fwup on CPython (spec 8.3). ``finish()`` signals end of input.

Handler callbacks (``entry`` is an ``Entry``):

* ``on_entry(entry) -> bool``: True to read it (data delivered, CRC and sizes checked),
  False to skip it (inflated only to find its end; errors there just end the archive).
  It may set ``entry.limit``: more output than that raises ``ArchiveError``.
* ``on_data(entry, chunk)``: ``chunk`` is only valid during the call. The entry's last chunk
  is delivered only after the CRC/size check passed. A skipped entry whose handler set
  ``entry.peek = n`` delivers its first ``n`` bytes unchecked (fwup's signature read).
* ``on_entry_end(entry)``.
* ``on_end(error)``: the central directory (or a clean EOF at a header) was reached, or
  ``error`` (an ``ArchiveError``) ended the entry loop while reading a header or skipping.

Errors while reading an entry that was asked for raise ``ArchiveError`` (fwup's texts:
``ZIP bad CRC: 0x.. should be 0x..``, ``ZIP decompression failed (-5)``, ...).

Largest buffers: CPython - one inflate output chunk (``max_chunk``, 256 KiB); MicroPython -
the 32 KiB deflate window, two 4 KiB input carries and a 1 KiB output buffer. Header bytes are
capped at ``MAX_HEADER``.
"""

import binascii
import io
import struct

from nerves_hub_link.errors import ArchiveError

try:
    import zlib  # portable: ok (CPython; MicroPython uses the deflate module)

    _ZLIB = zlib is not None  # CPython's inflater is in zipstream_zlib
except ImportError:
    _ZLIB = False

MAX_CHUNK = 262144  # libarchive's inflate output buffer
MAX_HEADER = 8192  # name + extra fields
LOOKAHEAD = 24  # libarchive 3.6.2 reads 24 bytes at a data descriptor
MP_OUT = 1024
MP_MARGIN = 4096

SIG_LOCAL = b"PK\x03\x04"
SIG_DESC = b"PK\x07\x08"
_END_SIGS = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07")

# states
_SIG, _HDR, _NAME, _DATA, _DESC, _END = 0, 1, 2, 3, 4, 5


class Entry:
    """One local file header: name, method, flags, sizes, CRC, times."""

    def __init__(self):
        self.name = ""
        self.method = 0
        self.flags = 0
        self.crc = 0
        self.csize = 0
        self.usize = 0
        self.dos_time = 0
        self.mtime = None  # Unix seconds from the UT extra field, if any
        self.zip64 = False
        self.limit = None
        self.peek = 0  # deliver this many leading bytes of a skipped entry (no CRC check)
        self.offset = 0

    def __repr__(self):
        return "Entry(%r, method=%d, usize=%d)" % (self.name, self.method, self.usize)


_reserve = None
# DeflateIO allocates its decoder state (1,344 bytes on x64) first-fit before the 32 KiB
# window: the reserve holds room for both, so the window fits even when the state lands in it
RESERVE = 32768 + 1536


def reserve_window():
    """MicroPython: hold a block for the deflate state and window so a later inflater finds one.

    A fragmented heap may have enough free bytes but no contiguous 32 KiB; call this at
    start-up (before importing much) and each inflater takes the block over; it is held again
    when a deflated entry ends.
    """
    global _reserve
    if not _ZLIB and _reserve is None:
        import gc

        gc.collect()
        # an inflater leaves a hole of state + window only (small objects may have taken the
        # rest of the old reserve): take the biggest block that fits, down to the window alone
        n = RESERVE
        while n >= 32768:
            try:
                _reserve = bytearray(n)
                return
            except MemoryError:
                n -= 256


def hold_window(d):
    """Keep ``d`` (a finished DeflateIO) as the reserved block."""
    global _reserve
    _reserve = d


def release_window():
    """Free the reserved block (while code needed once runs; ``reserve_window`` again after)."""
    global _reserve
    _reserve = None


def zerr(code):
    return ArchiveError("ZIP decompression failed (%d)" % code)


class _Src(io.IOBase):
    """Pull adapter for MicroPython's DeflateIO: serves a small carry buffer, then the piece."""

    def __init__(self):
        self.carry = bytearray(MP_MARGIN)
        self.spare = bytearray(MP_MARGIN)  # the other carry: see ``_MpInflater.unused``
        self.out = bytearray(MP_OUT)  # the inflater's output buffer, kept with the carry
        self.clen = 0
        self.cpos = 0
        self.piece = b""
        self.ppos = 0

    def avail(self):
        return self.clen - self.cpos + len(self.piece) - self.ppos

    def readinto(self, buf):
        if self.cpos < self.clen:
            buf[0] = self.carry[self.cpos]
            self.cpos += 1
            return 1
        if self.ppos < len(self.piece):
            buf[0] = self.piece[self.ppos]
            self.ppos += 1
            return 1
        return 0

    def stash(self):
        """Keep the unread rest of the piece in the carry buffer (it is < MP_MARGIN bytes)."""
        rest = memoryview(self.piece)[self.ppos:]  # views: no copies (overlapping moves are
        # memmove in MicroPython)
        c = self.carry
        n = self.clen - self.cpos
        c[0:n] = memoryview(c)[self.cpos:self.clen]
        c[n:n + len(rest)] = rest
        self.clen = n + len(rest)
        self.cpos = 0
        self.piece = b""
        self.ppos = 0


class _MpInflater:
    """MicroPython raw inflate through ``deflate.DeflateIO`` and a pull adapter.

    DeflateIO cannot be paused when its source runs dry, so it is only asked for output while
    at least ``MP_MARGIN`` input bytes are buffered (or at end of input, in ``drain``).
    """

    def __init__(self, src):
        import gc

        import deflate  # portable: ok (MicroPython only)

        gc.collect()  # the 32 KiB window needs one contiguous block
        # one carry and output buffer per ZipStream, allocated with it while the heap is
        # tidy: a 4 KiB block per entry may find no hole next to the held window reserve
        src.clen = src.cpos = src.ppos = 0
        src.piece = b""
        self.src = src
        self.d = deflate.DeflateIO(src, deflate.RAW, 15)
        self.out = src.out
        self.eof = False
        self.started = False

    def _read(self):
        if not self.started:
            # hand the reserved block over: DeflateIO allocates its window on this first read
            self.started = True
            release_window()
            import gc

            gc.collect()  # free the block now, so first fit puts the window in it
        try:
            n = self.d.readinto(self.out)
        except EOFError:
            raise zerr(-5)
        except (OSError, ValueError):
            raise zerr(-3)
        if not n:
            self.eof = True
            # the spent DeflateIO (state + window) is the reserve now: the next inflater takes
            # its blocks over, and nothing allocated meanwhile can split them (a new reserve
            # would need the freed blocks to be collected here, which a stale pointer can stop)
            hold_window(self.d)
            self.d = None
            return b""
        return memoryview(self.out)[:n]

    def inflate(self, inp):
        s = self.src
        s.piece = inp  # the unread rest of an earlier piece is passed again as inp
        s.ppos = 0
        while s.avail() >= MP_MARGIN:
            out = self._read()
            if self.eof or len(out):
                return out, s.ppos if self.eof else self._used(inp)
        s.stash()
        return b"", len(inp)

    def _used(self, inp):
        s = self.src
        if s.ppos < len(inp):
            return s.ppos
        s.piece = b""
        return len(inp)

    def unused(self):
        s = self.src
        rest = memoryview(s.carry)[s.cpos:s.clen]
        if len(rest):
            # the bytes after the entry (up to MP_MARGIN) are parsed where they are; the next
            # inflater fills the other buffer. A copy would need a new block of that size
            # each time, which a fragmented small heap may not have.
            s.carry, s.spare = s.spare, s.carry
        s.clen = s.cpos = 0
        return rest

    def drain(self):
        """End of input: inflate what is buffered (raises ``-5`` if the stream is cut)."""
        return self._read()


def _inflater(zs):
    if _ZLIB:
        from nerves_hub_link.fwup.zipstream_zlib import ZlibInflater

        return ZlibInflater(zs.max_chunk)
    return _MpInflater(zs.src)


class ZipStream:
    """Push-style ZIP reader; see the module docstring."""

    def __init__(self, handler, max_chunk=MAX_CHUNK):
        self.h = handler
        self.max_chunk = max_chunk
        self.state = _SIG
        self.hdr = bytearray()
        self.need = 4
        self.offset = 0  # archive offset of the next byte fed
        self.entry = None
        self.nentries = 0
        self.pending = None  # bytes that must be parsed before the rest of the piece
        self.inf = None
        self.src = None if _ZLIB else _Src()  # MicroPython: every inflater's input carry
        self.reading = True
        self.held = None
        self.crc = self.cread = self.uread = 0

    @property
    def done(self):
        return self.state == _END

    def release(self):
        """Give up: free the inflater, its window and the buffers (the stream is over)."""
        import gc

        self.state = _END
        self.inf = self.src = self.pending = self.held = None
        release_window()
        gc.collect()

    # -- input ---------------------------------------------------------------------------

    def feed(self, piece):
        """Process one piece of archive bytes completely."""
        if self.state == _END or not len(piece):
            return
        self._consume(memoryview(piece), True)

    def _consume(self, mv, count):
        pos = 0
        n = len(mv)
        while self.state != _END:
            if self.pending is not None:
                p = self.pending
                self.pending = None
                self._consume(memoryview(p), False)
                continue
            if pos >= n:
                break
            used = self._run(mv[pos:], n - pos)
            pos += used
            if count:
                self.offset += used

    def finish(self):
        """End of input."""
        self._consume(memoryview(b""), False)
        if self.state == _END:
            return
        while self.state == _DATA and self.inf is not None and not self.inf.eof:
            self._drain()
        if self.state == _END:
            return
        if self.state == _SIG and len(self.hdr) == 0:
            if self.nentries == 0:
                self._fail_header(ArchiveError("Unrecognized archive format"))
            else:
                self._end(None)
            return
        if self.state in (_SIG, _HDR, _NAME):
            self._fail_header(ArchiveError("Truncated ZIP file header"))
        elif self.state == _DESC:
            self._fail_data(ArchiveError("Truncated ZIP end-of-file record"))
        elif self.state == _DATA:
            if self.entry.method == 8:
                self._fail_data(zerr(-5))
            else:
                self._fail_data(ArchiveError("Truncated ZIP file data"))

    # -- state machine -------------------------------------------------------------------

    def _run(self, mv, n):
        st = self.state
        if st == _SIG or st == _HDR or st == _NAME:
            return self._header(mv, n)
        if st == _DATA:
            return self._data(mv, n)
        if st == _DESC:
            return self._desc(mv, n)
        return n

    def _take(self, mv, n):
        """Accumulate header bytes up to self.need; return bytes used."""
        k = self.need - len(self.hdr)
        if k > n:
            k = n
        self.hdr.extend(mv[:k])
        return k

    def _header(self, mv, n):
        used = self._take(mv, n)
        if len(self.hdr) < self.need:
            return used
        h = self.hdr
        if self.state == _SIG:
            sig = bytes(h[:4])
            if sig != SIG_LOCAL:
                if self.nentries == 0:
                    self._fail_header(ArchiveError("Unrecognized archive format"))
                elif sig in _END_SIGS:
                    self._end(None)
                else:
                    self._fail_header(ArchiveError(
                        "Bad local file header signature %r at offset %d" % (sig, self.offset)))
                return used
            self.state = _HDR
            self.need = 30
        elif self.state == _HDR:
            nl, el = struct.unpack("<HH", h[26:30])
            if nl + el > MAX_HEADER:
                self._fail_header(ArchiveError(
                    "ZIP header too long (name %d + extra %d bytes, limit %d)"
                    % (nl, el, MAX_HEADER)))
                return used
            self.state = _NAME
            self.need = 30 + nl + el
        if self.state == _NAME and len(h) >= self.need:
            self._start_entry()
        return used

    def _start_entry(self):
        h = self.hdr
        e = Entry()
        (_, _, e.flags, e.method, tm, dt, e.crc, e.csize, e.usize, nl, el) = struct.unpack(
            "<IHHHHHIIIHH", h[:30])
        e.dos_time = (dt << 16) | tm
        e.offset = self.offset
        try:
            e.name = str(bytes(h[30:30 + nl]), "utf-8")
        except UnicodeError:
            e.name = repr(bytes(h[30:30 + nl]))
        self._extras(e, h[30 + nl:30 + nl + el])
        self.hdr = bytearray()
        self.need = 4
        self.nentries += 1
        self.entry = e
        self.reading = True
        self.reading = bool(self.h.on_entry(e))
        if self.state == _END:
            return
        if e.method not in (0, 8):
            self._fail_data(ArchiveError("Unsupported ZIP compression method (%d) in %r"
                                         % (e.method, e.name)))
            return
        self.crc = 0
        self.cread = 0
        self.uread = 0
        self.held = None
        self.inf = _inflater(self) if e.method == 8 else None
        if e.method == 0 and (e.flags & 8) and e.csize == 0:
            self._fail_data(ArchiveError(
                "Stored ZIP entry %r without a size is not supported" % e.name))
            return
        self.state = _DATA
        if e.method == 0 and e.csize == 0:
            self._entry_data_done()

    def _extras(self, e, ex):
        i = 0
        while i + 4 <= len(ex):
            hid, hl = struct.unpack("<HH", ex[i:i + 4])
            body = ex[i + 4:i + 4 + hl]
            if hid == 0x5455 and len(body) >= 5 and body[0] & 1:
                e.mtime = struct.unpack("<i", body[1:5])[0]
            elif hid == 0x0001:
                e.zip64 = True
                j = 0
                if e.usize == 0xFFFFFFFF and len(body) >= j + 8:
                    e.usize = struct.unpack("<Q", body[j:j + 8])[0]
                    j += 8
                if e.csize == 0xFFFFFFFF and len(body) >= j + 8:
                    e.csize = struct.unpack("<Q", body[j:j + 8])[0]
            i += 4 + hl

    # -- entry data ----------------------------------------------------------------------

    def _deliver(self, chunk, last):
        n = len(chunk)
        if not n:
            return
        e = self.entry
        self.uread += n
        lim = e.limit
        if lim is not None and self.uread > lim:
            raise ArchiveError("ZIP entry %r inflates to more than %d bytes" % (e.name, lim))
        if self.reading:
            self.crc = binascii.crc32(chunk, self.crc)
            if last:
                self.held = bytes(chunk)
            else:
                self.h.on_data(e, chunk)
        else:
            if e.peek > self.uread - n:
                self.h.on_data(e, chunk[:e.peek - (self.uread - n)])
            if e.usize and self.uread > e.usize and not e.zip64 and e.usize != 0xFFFFFFFF:
                raise ArchiveError("ZIP entry %r is longer than its header says" % e.name)

    def _data(self, mv, n):
        e = self.entry
        try:
            if e.method == 0:
                return self._stored(mv, n)
            return self._deflated(mv, n)
        except ArchiveError as err:
            self._fail_data(err)
            return n

    def _stored(self, mv, n):
        e = self.entry
        k = e.csize - self.cread
        if k > n:
            k = n
        self.cread += k
        self._deliver(mv[:k], self.cread == e.csize)
        if self.cread == e.csize:
            self._entry_data_done()
        return k

    def _deflated(self, mv, n):
        e = self.entry
        inf = self.inf
        limit_in = not (e.flags & 8) and e.csize
        used_total = 0
        while used_total < n:
            inp = mv[used_total:]
            if limit_in:
                room = e.csize - self.cread
                if room <= 0:
                    self._drain()
                    return used_total
                if len(inp) > room:
                    inp = inp[:room]
            out, used = inf.inflate(inp)
            used_total += used
            self.cread += used
            self._deliver(out, inf.eof)
            if inf.eof:
                back = inf.unused()
                if back:
                    self.cread -= len(back)
                    self.pending = back
                self._entry_data_done()
                return used_total
            if used == 0 and not len(out):
                break
        return used_total

    def _drain(self):
        """No more input for this entry: inflate what the inflater still holds."""
        try:
            while not self.inf.eof:
                out = self.inf.drain()
                self._deliver(out, self.inf.eof)
            back = self.inf.unused()
            self.cread -= len(back)
            self._entry_data_done()
            if back:
                self._consume(memoryview(back), False)
        except ArchiveError as err:
            self._fail_data(err)

    def _entry_data_done(self):
        e = self.entry
        if e.flags & 8:
            self.state = _DESC
            self.need = LOOKAHEAD
            self.hdr = bytearray()
        else:
            self._check_and_end(e.crc, e.csize, e.usize)

    def _desc(self, mv, n):
        used = self._take(mv, n)
        if len(self.hdr) < self.need:
            return used
        d = self.hdr
        e = self.entry
        i = 4 if bytes(d[:4]) == SIG_DESC else 0
        if e.zip64:
            crc, cs, us = struct.unpack("<IQQ", d[i:i + 20])
            dlen = i + 20
        else:
            crc, cs, us = struct.unpack("<III", d[i:i + 12])
            dlen = i + 12
        # bytes after the descriptor belong to the next header: parse them first
        rest = bytes(d[dlen:])
        self.hdr = bytearray()
        self.need = 4
        self._check_and_end(crc, cs, us)
        if rest and self.state != _END:
            if self.pending is not None:
                rest = rest + bytes(self.pending)
            self.pending = rest
        return used

    def _check_and_end(self, crc, csize, usize):
        e = self.entry
        self.state = _SIG
        self.need = 4
        if self.reading:
            err = None
            if csize != self.cread:
                err = "ZIP compressed data is wrong size (read %d, expected %d)" % (
                    self.cread, csize)
            elif (usize & 0xFFFFFFFF) != (self.uread & 0xFFFFFFFF):
                err = "ZIP uncompressed data is wrong size (read %d, expected %d)" % (
                    self.uread, usize)
            elif crc != self.crc:
                err = "ZIP bad CRC: 0x%x should be 0x%x" % (self.crc, crc)
            if err:
                self._fail_data(ArchiveError(err))
                return
            if self.held is not None:
                held = self.held
                self.held = None
                self.h.on_data(e, held)
            self.inf = None
            self.h.on_entry_end(e)
        self.inf = None

    # -- endings -------------------------------------------------------------------------

    def _end(self, err):
        self.state = _END
        self.pending = None
        self.inf = None
        self.h.on_end(err)

    def _fail_header(self, err):
        if self.nentries == 0:
            self.state = _END
            raise err
        self._end(err)

    def _fail_data(self, err):
        if not self.reading:
            self._end(err)
            return
        self.state = _END
        self.pending = None
        self.inf = None
        raise err

