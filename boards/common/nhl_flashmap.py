"""A fwup block device over board flash: 512-byte fwup blocks mapped onto windows.

fwup addresses its output in 512-byte blocks. ``FlashMap`` places *windows* at fwup block
offsets (on ESP32: each OTA slot at its flash address / 512, the firmware KV at a fixed
virtual offset) and routes reads and writes to them. A write that touches anything outside a
writable window is refused before a byte is written, so the running app, the bootloader and
the partition table can never be overwritten by an archive.

Windows take byte offsets relative to their own start:

- ``PartitionWindow(part)``: an ``esp32.Partition`` (block size 4096). Flash must be erased
  before it is written, in 4096-byte sectors; a write covering a whole sector is erased and
  written directly, a partial one goes through a one-sector write-back cache
  (read-modify-write, so each sector is erased once while fwup streams 512-byte blocks).
  ``flush()`` (or ``ioctl(3)``, sync) writes the cached sector.
- ``FileWindow(path, size)``: a file on the VFS (the U-Boot environment file).

Reads of unmapped space return 0xFF (erased flash). Largest buffer: one 4096-byte sector per
writable ``PartitionWindow``.
"""

from nerves_hub_link.errors import BlockDeviceError

FWUP_BLOCK = 512
SECTOR = 4096


def _sectors(off, n):
    """(position, sector, offset in the sector, length) of each piece of ``n`` bytes at
    ``off`` that lies in one sector."""
    pos = 0
    while pos < n:
        a = off + pos
        s = a % SECTOR
        take = min(SECTOR - s, n - pos)
        yield pos, a // SECTOR, s, take
        pos += take


class PartitionWindow:
    """Byte-addressed view of a flash partition with erase-before-write."""

    def __init__(self, part, name=None, writable=True):
        info = part.info()
        self.part = part
        self.size = info[3]
        self.addr = info[2]
        self.name = name or info[4]
        self.writable = writable
        self._sec = -1
        self._buf = None
        self._dirty = False

    def read(self, off, buf):
        mv = memoryview(buf)
        for pos, sec, s, take in _sectors(off, len(mv)):
            if sec == self._sec:
                mv[pos:pos + take] = self._buf[s:s + take]
            else:
                self.part.readblocks(sec, mv[pos:pos + take], s)

    def write(self, off, data):
        if not self.writable:
            raise BlockDeviceError(
                "refusing to write partition %r (flash 0x%x): it is the running app"
                % (self.name, self.addr + off),
                "the archive must write the next-update slot only")
        mv = memoryview(data)
        for pos, sec, s, take in _sectors(off, len(mv)):
            if take == SECTOR:
                if sec == self._sec:
                    self._sec = -1
                    self._dirty = False
                self.part.writeblocks(sec, mv[pos:pos + SECTOR])  # erases, then writes
            else:
                self._load(sec)
                self._buf[s:s + take] = mv[pos:pos + take]
                self._dirty = True

    def _load(self, sec):
        if sec == self._sec:
            return
        self.flush()
        if self._buf is None:
            self._buf = bytearray(SECTOR)
        self.part.readblocks(sec, self._buf)
        self._sec = sec

    def flush(self):
        if self._dirty:
            self.part.writeblocks(self._sec, self._buf)
            self._dirty = False


class FileWindow:
    """Byte-addressed view of a file of ``size`` bytes; missing bytes read as 0xFF."""

    def __init__(self, path, size, name=None):
        self.path = path
        self.size = size
        self.name = name or path
        self.writable = True

    def read(self, off, buf):
        n = len(buf)
        got = 0
        try:
            with open(self.path, "rb") as f:
                f.seek(off)
                got = f.readinto(buf) or 0
        except OSError:
            got = 0
        for i in range(got, n):
            buf[i] = 0xFF

    def write(self, off, data):
        try:
            f = open(self.path, "r+b")
        except OSError:
            f = open(self.path, "w+b")
        try:
            f.seek(0, 2)
            end = f.tell()
            if end < off:
                # Fill the gap explicitly: not every VFS extends a file on a seek past its end.
                f.write(b"\xff" * (off - end))
            f.seek(off)
            f.write(data)
        finally:
            f.close()

    def flush(self):
        pass


class FlashMap:
    """MicroPython block device (512-byte blocks) routing fwup I/O to windows."""

    def __init__(self):
        self.regions = []  # (start byte, end byte, window), sorted by start

    def add(self, block_offset, window):
        start = block_offset * FWUP_BLOCK
        end = start + window.size
        for s, e, w in self.regions:
            if start < e and s < end:
                raise BlockDeviceError("window %r overlaps %r" % (window.name, w.name))
        self.regions.append((start, end, window))
        self.regions.sort(key=lambda r: r[0])
        return window

    def window(self, name):
        for _s, _e, w in self.regions:
            if w.name == name:
                return w
        return None

    def readblocks(self, n, buf, off=0):
        a = n * FWUP_BLOCK + off
        mv = memoryview(buf)
        pos = 0
        size = len(mv)
        while pos < size:
            r = self._find(a + pos)
            if r is None:
                nxt = self._next_start(a + pos)
                take = min(size - pos, nxt - (a + pos)) if nxt is not None else size - pos
                for i in range(pos, pos + take):
                    mv[i] = 0xFF
            else:
                s, e, w = r
                take = min(size - pos, e - (a + pos))
                w.read(a + pos - s, mv[pos:pos + take])
            pos += take

    def writeblocks(self, n, buf, off=0):
        a = n * FWUP_BLOCK + (off or 0)
        size = len(buf)
        # Check the whole range first: nothing is written when any byte falls outside.
        pos = 0
        while pos < size:
            r = self._find(a + pos)
            if r is None or not r[2].writable:
                what = "the running app %r" % r[2].name if r else "unmapped flash"
                raise BlockDeviceError(
                    "write of %d bytes at fwup block %d (byte 0x%x) hits %s"
                    % (size, a // FWUP_BLOCK, a + pos, what),
                    "check the archive's raw_write offsets against this board's partition table")
            pos += r[1] - (a + pos)
        mv = memoryview(buf)
        pos = 0
        while pos < size:
            s, e, w = self._find(a + pos)
            take = min(size - pos, e - (a + pos))
            w.write(a + pos - s, mv[pos:pos + take])
            pos += take

    def ioctl(self, op, arg):
        if op == 3:
            self.sync()
            return 0
        if op == 4:
            return self.regions[-1][1] // FWUP_BLOCK if self.regions else 0
        if op == 5:
            return FWUP_BLOCK
        return 0

    def sync(self):
        for _s, _e, w in self.regions:
            w.flush()

    def _find(self, a):
        for r in self.regions:
            if r[0] <= a < r[1]:
                return r
        return None

    def _next_start(self, a):
        for r in self.regions:
            if r[0] > a:
                return r[0]
        return None


class NullJournal:
    """An undo journal for ``Applier(journal=...)`` that keeps nothing.

    fwup's cache model undoes pending writes when an apply fails; on a board those writes
    only ever reach the slot that is not running (which is not activated after a failure),
    so undo records would cost RAM (up to a 128 KiB segment) and flash reads for nothing.
    """

    def save(self, blk, data):
        pass

    def pop(self, blk):
        return None

    def drop(self, blk):
        pass

    def __contains__(self, blk):
        return False

    def close(self):
        pass
