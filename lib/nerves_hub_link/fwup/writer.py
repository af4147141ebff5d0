"""ZIP writer that lays out a ``.fw`` exactly as fwup 1.16 + libarchive 3.6.2 do (spec 1.3).

Every entry has bit 3 set and a 16-byte data descriptor; local and central headers carry a
``UT`` extra (mtime only for entries that have one) and an ``ux`` extra (uid 0, gid 0).
Deflated entries use raw deflate, window bits 15, memLevel 8 (``zlib.compressobj(level,
DEFLATED, -15, 8, 0)``), which needs CPython's zlib: MicroPython has no compatible
compressor, so starting a deflated entry there raises ``FwupError``.

Usage::

    w = ZipWriter(out)                 # out: anything with write(bytes)
    w.add("meta.conf.ed25519", sig, method=STORED)
    w.begin("meta.conf", len(text), mtime=1700000000, dos_time=dos_datetime(tm))
    w.write(text); w.end()
    w.close()                          # central directory + end record

Largest buffer: none of its own; compressed pieces go straight to ``out.write``. The
central directory is kept as one small tuple per entry.
"""

import struct

from nerves_hub_link.errors import FwupError

STORED = 0
DEFLATED = 8
DOS_EPOCH = 0x00210000  # 1980-01-01 00:00: entries without an mtime
_FLAGS = 0x0008
_EXT_ATTR = 0x81A40000  # regular file, 0644
_UX = b"ux\x0b\x00\x01\x04\x00\x00\x00\x00\x04\x00\x00\x00\x00"
_MAX32 = 0xFFFFFFFF


def _crc32(data, crc):
    try:
        from binascii import crc32
    except ImportError:  # portable: ok
        from zlib import crc32
    return crc32(data, crc) & _MAX32


def dos_datetime(tm):
    """DOS time field (date << 16 | time) for a (year, month, day, hour, min, sec) tuple."""
    year = tm[0]
    if year < 1980:
        return DOS_EPOCH
    if year > 2107:
        year = 2107
    date = ((year - 1980) << 9) | (tm[1] << 5) | tm[2]
    t = (tm[3] << 11) | (tm[4] << 5) | (tm[5] >> 1)
    return (date << 16) | t


def _extra(mtime):
    if mtime is None:
        ut = b"UT\x01\x00\x00"
    else:
        ut = b"UT\x05\x00\x01" + struct.pack("<I", mtime & _MAX32)
    return ut + _UX


def _compressor(level):
    try:
        import zlib
    except ImportError:  # portable: ok
        zlib = None
    if zlib is None or not hasattr(zlib, "compressobj"):
        raise FwupError("creating .fw archives needs zlib deflate compression",
                        hint="run the creator on CPython (nhl fw create)")
    return zlib.compressobj(level, zlib.DEFLATED, -15, 8, 0)


class ZipWriter:
    """Streams entries into ``out`` in fwup's layout; see the module docstring."""

    def __init__(self, out, level=9):
        if not 0 <= level <= 9:
            raise FwupError("compression level must be 0..9, got %r" % (level,))
        self._out = out
        self._level = level
        self._pos = 0
        self._central = []
        self._cur = None

    def _w(self, data):
        self._out.write(data)
        self._pos += len(data)

    def begin(self, name, size, method=DEFLATED, mtime=None, dos_time=DOS_EPOCH):
        """Start an entry of ``size`` uncompressed bytes (the size goes in the local header)."""
        if self._cur is not None:
            raise FwupError("ZipWriter.begin(%r) while %r is still open" % (name, self._cur[0]))
        if size >= _MAX32 or self._pos >= _MAX32:
            raise FwupError("entry %r: archives of 4 GiB or more (zip64) are not supported" % name,
                            hint="split the image into smaller resources")
        bname = name.encode("utf-8") if isinstance(name, str) else bytes(name)
        extra = _extra(mtime)
        need = 10 if method == STORED else 20
        comp = None if method == STORED else _compressor(self._level)
        csize = size if method == STORED else 0
        offset = self._pos
        self._w(struct.pack("<IHHHIIIIHH", 0x04034B50, need, _FLAGS, method, dos_time, 0,
                            csize, size, len(bname), len(extra)))
        self._w(bname)
        self._w(extra)
        # name, method, dos_time, extra, offset, compressor, crc, csize, usize, declared size
        self._cur = [bname, method, dos_time, extra, offset, comp, 0, 0, 0, size]

    def write(self, data):
        """Append uncompressed bytes to the open entry."""
        cur = self._cur
        if cur is None:
            raise FwupError("ZipWriter.write() without an open entry")
        if not data:
            return
        cur[6] = _crc32(data, cur[6])
        cur[8] += len(data)
        if cur[5] is None:
            self._w(data)
            cur[7] += len(data)
        else:
            out = cur[5].compress(data)
            if out:
                self._w(out)
                cur[7] += len(out)

    def end(self):
        """Finish the open entry: flush the compressor and write the data descriptor."""
        cur = self._cur
        if cur is None:
            raise FwupError("ZipWriter.end() without an open entry")
        if cur[5] is not None:
            out = cur[5].flush()
            if out:
                self._w(out)
                cur[7] += len(out)
        if cur[8] != cur[9]:
            raise FwupError("entry %r: got %d bytes but %d were declared"
                            % (str(cur[0], "utf-8"), cur[8], cur[9]),
                            hint="the input file changed while the archive was written")
        if cur[7] >= _MAX32 or self._pos >= _MAX32:
            raise FwupError("entry %r: archives of 4 GiB or more (zip64) are not supported"
                            % str(cur[0], "utf-8"))
        self._w(struct.pack("<IIII", 0x08074B50, cur[6], cur[7], cur[8]))
        self._central.append((cur[0], cur[1], cur[2], cur[3], cur[4], cur[6], cur[7], cur[8]))
        self._cur = None

    def add(self, name, data, method=DEFLATED, mtime=None, dos_time=DOS_EPOCH):
        """Write a whole entry from bytes."""
        self.begin(name, len(data), method, mtime, dos_time)
        self.write(data)
        self.end()

    def close(self):
        """Write the central directory and the end record. Returns the archive size."""
        if self._cur is not None:
            raise FwupError("ZipWriter.close() while %r is still open" % self._cur[0])
        start = self._pos
        for bname, method, dos_time, extra, offset, crc, csize, usize in self._central:
            need = 10 if method == STORED else 20
            self._w(struct.pack("<IHHHHIIIIHHHHHII", 0x02014B50, 0x0300 | need, need, _FLAGS,
                                method, dos_time, crc, csize, usize, len(bname), len(extra),
                                0, 0, 0, _EXT_ATTR, offset))
            self._w(bname)
            self._w(extra)
        size = self._pos - start
        n = len(self._central)
        self._w(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, size, start, 0))
        return self._pos
