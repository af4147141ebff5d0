"""fwup's 128 KiB segment cache, reproduced without holding segments in RAM (spec 6.3).

Writes go straight to the device. Per segment "in the cache" we keep only a 256-bit dirty
mask, an LRU stamp and a streamed-only flag; the original bytes of every block overwritten
while its segment is pending go to an undo ``Journal`` (RAM, or a temp file next to a
file-backed image). What fwup would have lost (error: the whole cache; ``trim``: the trimmed
segments) is restored from the journal; what fwup would have flushed is committed (journal
dropped, trimmed segments zero-filled, the image grown to the segment end). Reads see
trimmed segments as zeros, like fwup.

Largest buffer: the original bytes of one write's span inside one 128 KiB segment (read back
for the journal), a zero block (4 KiB; 512 bytes on MicroPython) while zero-filling; the
journal itself lives in a file for ``FileBlockDevice`` outputs.
"""

import sys

from nerves_hub_link.errors import BlockDeviceError, FwupError
from nerves_hub_link.hal import IOCTL_BLOCK_COUNT, IOCTL_SYNC, block_size

BLOCK = 512
SEG = 131072
SEG_BLOCKS = 256
SAVE_RUN = 64  # blocks the undo journal reads at once (32 KiB)
FULL = (1 << SEG_BLOCKS) - 1
MAX_OFFSET = 1 << 62
# zeros are written in chunks of this size, allocated when needed (small on MicroPython,
# whose heap may be too fragmented for 4 KiB in one piece while the deflate window exists)
ZERO_CHUNK = 512 if sys.implementation.name == "micropython" else 4096


class RamJournal:
    """Undo records in a dict (for RAM block devices and tests)."""

    def __init__(self):
        self.d = {}

    def save(self, blk, data):
        self.d[blk] = bytes(data)

    def pop(self, blk):
        return self.d.pop(blk, None)

    def __contains__(self, blk):
        return blk in self.d

    def close(self):
        self.d = {}


class FileJournal:
    """Undo records in a temp file, one 128 KiB area per pending segment; RAM keeps only
    segment -> (area, saved-blocks mask), so it is bounded by the pending segments."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "w+b")
        self.areas = {}  # segment -> [area, mask]
        self.free = []
        self.n = 0

    def _pos(self, blk, create):
        s = blk // SEG_BLOCKS
        a = self.areas.get(s)
        if a is None:
            if not create:
                return None, 0
            if self.free:
                area = self.free.pop()
            else:
                area = self.n
                self.n += 1
            a = self.areas[s] = [area, 0]
        return a, blk % SEG_BLOCKS

    def save(self, blk, data):
        a, i = self._pos(blk, True)
        self.f.seek((a[0] * SEG_BLOCKS + i) * BLOCK)
        self.f.write(data)
        a[1] |= 1 << i

    def _clear(self, blk):
        """Forget ``blk``'s record; returns its file offset or None."""
        a, i = self._pos(blk, False)
        if a is None or not (a[1] >> i & 1):
            return None
        a[1] &= ~(1 << i)
        if not a[1]:
            del self.areas[blk // SEG_BLOCKS]
            self.free.append(a[0])
        return (a[0] * SEG_BLOCKS + i) * BLOCK

    def pop(self, blk):
        pos = self._clear(blk)
        if pos is None:
            return None
        self.f.seek(pos)
        return self.f.read(BLOCK)

    def drop(self, blk):
        self._clear(blk)

    def __contains__(self, blk):
        a, i = self._pos(blk, False)
        return a is not None and bool(a[1] >> i & 1)

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None
            try:
                import os  # portable: ok

                os.remove(self.path)
            except (ImportError, OSError):
                pass


class Device:
    """Byte-offset access to a block device (any block size) or a ``FileBlockDevice``."""

    def __init__(self, dev):
        self.dev = dev
        self.growable = bool(getattr(dev, "growable", False))
        if self.growable:
            self.bs = BLOCK
            self.limit = None
        else:
            self.bs = block_size(dev)
            self.limit = dev.ioctl(IOCTL_BLOCK_COUNT, 0) * self.bs

    def size(self):
        return self.dev.size() if self.growable else self.limit

    def _check(self, what, off, n):
        if off < 0 or off + n > MAX_OFFSET:
            raise BlockDeviceError("%s of %d bytes at offset %d is out of range" % (what, n, off))
        if self.limit is not None and off + n > self.limit:
            raise BlockDeviceError("%s failed at offset %d since past end of media (%d)."
                                   % (what, off + n if off < self.limit else off, self.limit))

    def read(self, off, n):
        self._check("read", off, n)
        if self.growable:
            return self.dev.pread(off, n)
        bs = self.bs
        first = off // bs
        last = (off + n + bs - 1) // bs
        buf = bytearray((last - first) * bs)
        self._io(self.dev.readblocks, first, buf)
        skip = off - first * bs
        return buf[skip:skip + n] if skip or len(buf) != n else buf

    def write(self, off, data):
        n = len(data)
        self._check("write", off, n)
        if self.growable:
            self.dev.pwrite(off, data)
            return
        bs = self.bs
        if off % bs == 0 and n % bs == 0:
            self._io(self.dev.writeblocks, off // bs, data)
            return
        first = off // bs
        buf = self.read(first * bs, ((off + n + bs - 1) // bs - first) * bs)
        buf[off - first * bs:off - first * bs + n] = data
        self._io(self.dev.writeblocks, first, buf)

    def _io(self, fn, blk, buf):
        try:
            fn(blk, buf)
        except OSError as e:
            raise BlockDeviceError("block device I/O failed at block %d: %r" % (blk, e))

    def truncate(self, n):
        if self.growable:
            self.dev.truncate(n)

    def sync(self):
        # a file only reports a failed write (disk full) when its buffer is flushed here
        try:
            self.dev.ioctl(IOCTL_SYNC, 0)
        except OSError as e:
            raise BlockDeviceError("block device sync failed: %r" % (e,),
                                   hint="the output may be incomplete; check the device")


class _Seg:
    def __init__(self):
        self.dirty = 0
        self.ndirty = 0
        self.streamed = True
        self.stamp = 0


class SegmentCache:
    """The output as fwup's cache would leave it; see the module docstring."""

    def __init__(self, dev, journal=None, segments=64):
        self.dev = dev if isinstance(dev, Device) else Device(dev)
        if journal is None:
            path = getattr(self.dev.dev, "path", None)
            journal = FileJournal(path + ".fwup-undo") if path else RamJournal()
        self.journal = journal
        self.max_segs = max(1, segments)
        self.segs = {}
        self.trimmed = []  # [first, last) segment ranges
        self.clock = 0
        size = self.dev.size()
        self.committed = size if self.dev.growable else None

    # -- segment bookkeeping -------------------------------------------------------------

    def _touch(self, s):
        self.clock += 1
        seg = self.segs.get(s)
        if seg is None:
            if len(self.segs) >= self.max_segs:
                old = min(self.segs, key=lambda k: self.segs[k].stamp)
                self._flush_seg(old)
            seg = self.segs[s] = _Seg()
        seg.stamp = self.clock
        return seg

    def _seg_end(self, s):
        end = (s + 1) * SEG
        lim = self.dev.limit
        return end if lim is None or end < lim else lim

    def _flush_seg(self, s):
        seg = self.segs.pop(s)
        if not seg.ndirty:
            return
        base = s * SEG
        end = self._seg_end(s)
        if self._is_trimmed(s):
            self._zero_clean(seg, base, end)
            self._untrim(s)
        elif self.dev.growable:
            phys = self.dev.size()
            if phys < end:
                self._zeros(phys, end - phys)
        if self.dev.growable and end > self.committed:
            self.committed = end
        mask = seg.dirty
        b0 = base // BLOCK
        for i in range(SEG_BLOCKS):
            if mask >> i & 1:
                self._forget(b0 + i)

    def _forget(self, blk):
        j = self.journal
        if hasattr(j, "drop"):
            j.drop(blk)
        else:
            j.pop(blk)

    def _zero_clean(self, seg, base, end):
        mask = seg.dirty
        i = 0
        n = (end - base) // BLOCK
        while i < n:
            if mask >> i & 1:
                i += 1
                continue
            j = i
            while j < n and not (mask >> j & 1):
                j += 1
            self._zeros(base + i * BLOCK, (j - i) * BLOCK)
            i = j

    def _zeros(self, off, n):
        z = bytes(min(n, ZERO_CHUNK))
        while n:
            k = n if n < len(z) else len(z)
            self.dev.write(off, z if k == len(z) else memoryview(z)[:k])
            off += k
            n -= k

    def _undo_seg(self, s):
        """Forget a pending segment's writes as fwup would (never reached the output)."""
        seg = self.segs.pop(s)
        mask = seg.dirty
        b0 = s * SEG_BLOCKS
        for i in range(SEG_BLOCKS):
            if mask >> i & 1:
                blk = b0 + i
                old = self.journal.pop(blk)
                if old is not None:
                    self.dev.write(blk * BLOCK, old)
                elif self.committed is not None and blk * BLOCK < self.committed:
                    self.dev.write(blk * BLOCK, bytes(BLOCK))

    # -- public API ----------------------------------------------------------------------

    def write(self, off, data, streamed):
        """Write whole blocks at a block-aligned offset."""
        n = len(data)
        if off % BLOCK or n % BLOCK:
            raise FwupError("internal: unaligned write (%d bytes at %d)" % (n, off))
        self.dev._check("write", off, n)
        mv = memoryview(data)
        pos = 0
        while pos < n:
            o = off + pos
            s = o // SEG
            k = min(n - pos, (s + 1) * SEG - o)
            seg = self._touch(s)
            if not streamed:
                seg.streamed = False
            first = (o - s * SEG) // BLOCK
            cnt = k // BLOCK
            bits = ((1 << cnt) - 1) << first
            new = bits & ~seg.dirty
            if new:
                self._save(o, first, cnt, new, s)
            self.dev.write(o, mv[pos:pos + k])
            seg.dirty |= bits
            if new:
                seg.ndirty = _popcount(seg.dirty)
            if streamed and seg.streamed and seg.dirty == FULL:
                self._flush_seg(s)
            pos += k

    def _save(self, o, first, cnt, new, s):
        comm = self.committed
        b0 = s * SEG_BLOCKS
        lo = o
        hi = o + cnt * BLOCK
        if comm is not None:
            hi = min(hi, comm)
        if hi <= lo:
            return
        n = (hi - lo) // BLOCK
        i = 0
        while i < n:
            if not new >> (first + i) & 1:
                i += 1
                continue
            # one read per run of blocks to keep, at most SAVE_RUN: no buffer as long as a big
            # write (MicroPython writes are 1 KiB, so its runs are 2 blocks at most)
            j = i + 1
            while j < n and j - i < SAVE_RUN and new >> (first + j) & 1:
                j += 1
            old = memoryview(self.dev.read(lo + i * BLOCK, (j - i) * BLOCK))
            for k in range(i, j):
                self.journal.save(b0 + first + k, old[(k - i) * BLOCK:(k - i + 1) * BLOCK])
            i = j

    def read(self, off, n):
        """Read bytes as fwup's cache would return them (trimmed segments read as zeros)."""
        self.dev._check("read", off, n)
        out = self.dev.read(off, n)
        if not isinstance(out, bytearray):
            out = bytearray(out)
        s = off // SEG
        while s * SEG < off + n:
            seg = self._touch(s)
            if self._is_trimmed(s):
                lo = max(off, s * SEG)
                hi = min(off + n, (s + 1) * SEG)
                b = lo // BLOCK * BLOCK
                while b < hi:
                    if not (seg.dirty >> ((b - s * SEG) // BLOCK) & 1):
                        z0 = max(b, lo)
                        z1 = min(b + BLOCK, hi)
                        out[z0 - off:z1 - off] = bytes(z1 - z0)
                    b += BLOCK
            s += 1
        return out

    def trim(self, off, length):
        """fwup's trim: whole segments only; drops their pending writes, reads give zeros."""
        if off < 0 or length < 0:
            raise BlockDeviceError("trim of %d bytes at offset %d is out of range" % (length, off))
        first = (off + SEG - 1) // SEG
        last = (off + length) // SEG
        if last <= first:
            return
        for s in list(self.segs):
            if first <= s < last:
                self._undo_seg(s)
        self.trimmed.append([first, last])

    def _is_trimmed(self, s):
        for a, b in self.trimmed:
            if a <= s < b:
                return True
        return False

    def _untrim(self, s):
        out = []
        for a, b in self.trimmed:
            if a <= s < b:
                if a < s:
                    out.append([a, s])
                if s + 1 < b:
                    out.append([s + 1, b])
            else:
                out.append([a, b])
        self.trimmed = out

    def discard(self):
        """An error happened: every pending write is lost."""
        for s in list(self.segs):
            self._undo_seg(s)
        if self.committed is not None and self.dev.size() > self.committed:
            self.dev.truncate(self.committed)

    def flush(self):
        """Final flush: commit every pending segment."""
        for s in sorted(self.segs, key=lambda k: self.segs[k].stamp):
            self._flush_seg(s)
        if self.committed is not None and self.dev.size() > self.committed:
            self.dev.truncate(self.committed)
        self.dev.sync()

    def close(self):
        self.journal.close()


def _popcount(x):
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n
