"""fwup progress computation (spec 8.3).

``Progress(emit, low=0, high=100)``: ``start()`` emits ``low``; ``set_total(units)``;
``report(units)`` emits a new percentage only when it rises; ``done()`` emits ``high``.
``emit(type, code, text)`` is the applier's events callback (``"PR"``, ``"WN"``, ...).

The ``--framing`` packets are built by ``framing``.
"""


class Progress:
    def __init__(self, emit, low=0, high=100):
        self.emit = emit
        self.low = low
        self.range = high - low
        self.total = 0
        self.current = 0
        self.last = -1

    def _send(self, pct):
        if pct > self.last:
            self.last = pct
            if self.emit:
                self.emit("PR", pct, "")

    def start(self):
        self._send(self.low)

    def set_total(self, total):
        self.total = total
        self.current = 0

    def report(self, units):
        if units <= 0:
            return
        self.current += units
        if self.current > self.total:
            self.current = self.total
        if self.total == 0:
            self._send(self.low)
            return
        self._send(self.low + min(self.current * self.range // self.total, self.range - 1))

    def done(self):
        self._send(self.low + self.range)
