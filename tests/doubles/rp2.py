"""Test double of MicroPython's ``rp2`` module: ``Flash`` over a RAM NOR flash region.

``Flash(start=, len=)`` offers the block protocol with 4096-byte sectors; ``start``/``len``
must be sector-aligned and inside the filesystem storage region (as on the real port, where
Python cannot reach the firmware area). Writes without an erase AND bits like NOR flash.
Largest buffer: the storage region (``STORAGE_BYTES``).
"""

SECTOR = 4096
STORAGE_BYTES = 64 * 1024
_storage = bytearray(b"\xff" * STORAGE_BYTES)


def reset_storage():
    _storage[:] = b"\xff" * STORAGE_BYTES


def country(code=None):
    return "XX"


def bootsel_button():
    return 0


class Flash:
    def __init__(self, *, start=-1, len=-1):
        if start == -1:
            start = 0
        if len == -1:
            len = STORAGE_BYTES - start
        if start % SECTOR or len % SECTOR or start < 0 or start + len > STORAGE_BYTES:
            raise ValueError("bad start or len")
        self._start = start
        self._len = len

    def readblocks(self, n, buf, off=0):
        a = self._start + n * SECTOR + off
        if a + len(buf) > self._start + self._len:
            raise OSError(22)
        buf[:] = _storage[a:a + len(buf)]

    def writeblocks(self, n, buf, off=None):
        a = self._start + n * SECTOR + (off or 0)
        if a + len(buf) > self._start + self._len:
            raise OSError(22)
        if off is None:
            end = a + len(buf) + (-len(buf)) % SECTOR
            _storage[a:end] = b"\xff" * (end - a)
        for i in range(len(buf)):
            _storage[a + i] &= buf[i]

    def ioctl(self, op, arg):
        if op == 4:
            return self._len // SECTOR
        if op == 5:
            return SECTOR
        if op == 6:
            a = self._start + arg * SECTOR
            _storage[a:a + SECTOR] = b"\xff" * SECTOR
            return 0
        return 0
