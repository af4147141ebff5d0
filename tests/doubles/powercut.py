"""Power-cut injection at the block-device boundary (tests only).

``PowerCutDevice(dev, cut_at=k, tear=n)`` wraps a MicroPython-protocol block device and splits
every ``writeblocks`` into single-block writes. Write number ``k`` is the last one: it lands
whole (``tear=None``) or only its first ``n`` bytes land (a torn sector); then the power is
gone: ``PowerCut`` is raised and every later write is dropped. ``cut_at=None`` counts writes.

``PowerCut`` derives from ``BaseException`` so no ``except Exception``/``except OSError`` in
the code under test can swallow it and carry on writing.
"""


class PowerCut(BaseException):
    pass


class RamDevice:
    """Plain RAM flash: ``readblocks``/``writeblocks``/``ioctl`` over a bytearray."""

    def __init__(self, data, block_size=512):
        self.data = bytearray(data)
        self.bs = block_size

    def readblocks(self, n, buf, off=0):
        start = n * self.bs + off
        buf[:] = self.data[start:start + len(buf)]

    def writeblocks(self, n, buf, off=0):
        start = n * self.bs + off
        self.data[start:start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // self.bs
        if op == 5:
            return self.bs
        return 0


class PowerCutDevice:
    def __init__(self, dev, cut_at=None, tear=None):
        self.dev = dev
        self.cut_at = cut_at
        self.tear = tear
        self.writes = 0
        self.dead = False
        self.bs = dev.ioctl(5, 0) or 512

    def readblocks(self, n, buf, off=0):
        self.dev.readblocks(n, buf, off)

    def writeblocks(self, n, buf, off=0):
        bs = self.bs
        mv = memoryview(buf)
        start = n * bs + off
        for i in range(0, len(mv), bs):
            if self.dead:
                raise PowerCut("write after the power cut")
            piece = mv[i:i + bs]
            self.writes += 1
            pos = start + i
            if self.writes == self.cut_at:
                self.dead = True
                if self.tear is not None:
                    piece = piece[:self.tear]
                self._put(pos, piece)
                raise PowerCut("power cut at write %d" % self.writes)
            self._put(pos, piece)

    def _put(self, pos, piece):
        blk, within = divmod(pos, self.bs)
        self.dev.writeblocks(blk, bytes(piece), within)

    def ioctl(self, op, arg):
        return self.dev.ioctl(op, arg)
