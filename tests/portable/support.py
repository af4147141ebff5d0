# Helpers shared by the portable tests (CPython and MicroPython).
# Paths are relative to the repository root: both runners start there.
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"
FIXTURES = "tests/fixtures"


def fixture(*parts):
    """Path of a file under tests/fixtures."""
    return "/".join((FIXTURES,) + parts)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception it raised; fail if it raised nothing or another type."""
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError("%s was not raised by %r" % (exc_type.__name__, fn))


class RamBlockDevice:
    """A block device in RAM (MicroPython block protocol) that can be told to fail writes."""

    def __init__(self, nblocks, block_size=512, fill=0):
        self.block_size = block_size
        self.data = bytearray(bytes([fill]) * (nblocks * block_size))
        self.fail_after = None
        self.writes = 0

    def readblocks(self, n, buf, off=0):
        start = n * self.block_size + off
        buf[:] = self.data[start:start + len(buf)]

    def writeblocks(self, n, buf, off=0):
        if self.fail_after is not None and self.writes >= self.fail_after:
            raise OSError(5)
        self.writes += 1
        start = n * self.block_size + off
        self.data[start:start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // self.block_size
        if op == 5:
            return self.block_size
        return 0
