"""``FileBlockDevice``: an image file behind MicroPython's block-device protocol.

Grows like ``fwup -d image.img`` (reads past the end give zeros, writes past the end extend
the file) and uses only ``open/seek/read/write`` (plus ``os.rename`` to truncate on ports
whose files have no ``truncate``), so it runs on CPython and MicroPython.

Besides ``readblocks/writeblocks/ioctl`` it offers byte access for the applier:
``pread(offset, n)``, ``pwrite(offset, data)``, ``size()``, ``truncate(n)`` and
``growable = True``. Largest buffers (MicroPython, whose heap may be too fragmented for
bigger pieces, in brackets): one copy chunk of 16 KiB [2 KiB] while truncating without
``truncate``; a zero block of 4 KiB [512 bytes] while filling a gap.
"""

import os
import sys

from nerves_hub_link.errors import BlockDeviceError

_COPY = 2048 if sys.implementation.name == "micropython" else 16384
_ZERO_CHUNK = 512 if sys.implementation.name == "micropython" else 4096  # fragmented heaps


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class FileBlockDevice:
    """A growable image file with 512-byte blocks (``block_size`` may be changed)."""

    growable = True

    def __init__(self, path, create=True, block_size=512):
        self.path = path
        self.block_size = block_size
        if not _exists(path):
            if not create:
                raise BlockDeviceError("Cannot open '%s' for output." % path)
            try:
                open(path, "wb").close()
            except OSError:
                raise BlockDeviceError(
                    "Cannot create '%s'." % path,
                    hint="Check the path and permissions on the containing directory.")
        try:
            self.f = open(path, "r+b")
        except OSError:
            raise BlockDeviceError(
                "Cannot open '%s' for output." % path,
                hint="Check file permissions or the read-only tab if this is an SD Card.")
        self.f.seek(0, 2)
        self._size = self.f.tell()

    def size(self):
        return self._size

    def pread(self, offset, n):
        """``n`` bytes at ``offset``; zeros past the end of the file."""
        out = bytearray(n)
        if offset < self._size:
            k = min(n, self._size - offset)
            self.f.seek(offset)
            got = self.f.readinto(memoryview(out)[:k])
            if got is None or got < k:
                raise BlockDeviceError("short read at offset %d of '%s'" % (offset, self.path))
        return out

    def pwrite(self, offset, data):
        if offset > self._size:
            # Fill the gap explicitly: some ports cannot seek past the end of a file.
            self.f.seek(self._size)
            gap = offset - self._size
            z = bytes(min(gap, _ZERO_CHUNK))
            while gap:
                k = min(gap, len(z))
                self.f.write(memoryview(z)[:k] if k < len(z) else z)
                gap -= k
        else:
            self.f.seek(offset)
        self.f.write(data)
        end = offset + len(data)
        if end > self._size:
            self._size = end

    def truncate(self, n):
        """Shrink the file to ``n`` bytes (never grows it)."""
        if n >= self._size:
            return
        self.f.flush()
        tr = getattr(self.f, "truncate", None)
        if tr is not None:
            self.f.seek(n)
            tr(n)
        else:
            self._copy_truncate(n)
        self._size = n

    def _copy_truncate(self, n):
        tmp = self.path + ".trunc"
        with open(tmp, "wb") as out:
            self.f.seek(0)
            left = n
            buf = bytearray(_COPY)
            while left:
                k = self.f.readinto(memoryview(buf)[:min(left, _COPY)])
                if not k:
                    break
                out.write(memoryview(buf)[:k])
                left -= k
        self.f.close()
        os.rename(tmp, self.path)
        self.f = open(self.path, "r+b")

    def readblocks(self, block_num, buf, offset=0):
        buf[:] = self.pread(block_num * self.block_size + offset, len(buf))

    def writeblocks(self, block_num, buf, offset=0):
        self.pwrite(block_num * self.block_size + offset, buf)

    def ioctl(self, op, arg):
        if op == 4:
            return (self._size + self.block_size - 1) // self.block_size
        if op == 5:
            return self.block_size
        if op == 3:
            self.f.flush()
        return 0

    def sync(self):
        self.f.flush()

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None
