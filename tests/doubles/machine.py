"""Test double of MicroPython's ``machine`` module (the parts the board glue uses).

- ``reset()`` models a hard reset: it runs the functions in ``reset_hooks`` (the ``esp32``
  double registers its bootloader step there), counts the reset and raises ``DeviceReset``
  (a BaseException, so ``except Exception`` in application code cannot swallow it, just as
  a real reset never returns).
- ``I2C`` talks to fake peripherals attached with ``attach_i2c(addr, dev)``; ``dev`` has
  ``write(bytes)`` and ``read(n) -> bytes``. A missing address raises ``OSError(19)``
  (ENODEV), as the ports do when nobody acknowledges.
"""

resets = 0
reset_hooks = []
PWRON_RESET = 1
HARD_RESET = 2
SOFT_RESET = 5
_reset_cause = PWRON_RESET
_i2c_devices = {}


class DeviceReset(BaseException):
    """Raised by ``reset()``: the simulated chip has restarted."""


def reset():
    global resets, _reset_cause
    resets += 1
    _reset_cause = HARD_RESET
    for hook in reset_hooks:
        hook()
    raise DeviceReset()


def soft_reset():
    global _reset_cause
    _reset_cause = SOFT_RESET
    raise DeviceReset()


def reset_cause():
    return _reset_cause


def unique_id():
    return b"\x24\x0a\xc4\x00\x11\x22"


def freq(hz=None):
    return 240000000


def attach_i2c(addr, dev):
    _i2c_devices[addr] = dev


def detach_all():
    _i2c_devices.clear()


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self._v = value or 0

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        return None

    def on(self):
        self._v = 1

    def off(self):
        self._v = 0


class I2C:
    def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = id
        self.freq = freq

    def scan(self):
        return sorted(_i2c_devices)

    def _dev(self, addr):
        d = _i2c_devices.get(addr)
        if d is None:
            raise OSError(19)
        return d

    def writeto(self, addr, buf, stop=True):
        self._dev(addr).write(bytes(buf))
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        data = self._dev(addr).read(len(buf))
        buf[: len(data)] = data

    def readfrom(self, addr, n, stop=True):
        buf = bytearray(n)
        self.readfrom_into(addr, buf, stop)
        return bytes(buf)
