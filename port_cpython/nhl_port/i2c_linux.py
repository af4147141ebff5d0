"""Linux ``/dev/i2c-N`` as a HAL I2C (``writeto``/``readfrom_into``/``wake``) via smbus2 i2c_rdwr.

Each call is one plain I2C transfer with a STOP (no SMBus register framing). The bus
speed is fixed by the kernel (device tree); NervesKey's wake pulse needs <= 100 kHz.
A missing ACK surfaces as ``OSError`` (ENXIO/EREMOTEIO/ETIMEDOUT), which the transport
treats as "asleep or busy".
"""

import time

from nerves_hub_link.errors import ConfigError, NervesKeyError


def bus_number(bus):
    """``1``, ``"1"``, ``"i2c-1"`` or ``"/dev/i2c-1"`` -> 1."""
    s = str(bus)
    for prefix in ("/dev/i2c-", "i2c-"):
        if s.startswith(prefix):
            s = s[len(prefix):]
    try:
        return int(s)
    except ValueError:
        raise ConfigError("I2C bus must be a number or /dev/i2c-N, got %r" % (bus,))


class LinuxI2C:
    """One Linux I2C adapter; ``smbus`` can be injected for tests."""

    def __init__(self, bus, smbus=None):
        self.bus = bus_number(bus)
        try:
            from smbus2 import SMBus, i2c_msg
        except ImportError:
            raise NervesKeyError("smbus2 is not installed", hint="pip install smbus2")
        self._msg = i2c_msg
        if smbus is None:
            try:
                smbus = SMBus(self.bus)
            except OSError as e:
                raise NervesKeyError("cannot open /dev/i2c-%d: %s" % (self.bus, e),
                                     hint="enable the I2C bus and check permissions "
                                          "(group i2c)")
        self._smbus = smbus

    def writeto(self, addr, buf):
        self._smbus.i2c_rdwr(self._msg.write(addr, bytes(buf)))

    def readfrom_into(self, addr, buf):
        msg = self._msg.read(addr, len(buf))
        self._smbus.i2c_rdwr(msg)
        buf[:] = bytes(msg)

    def wake(self):
        try:
            self.writeto(0, b"\x00")
        except OSError:
            pass

    def close(self):
        self._smbus.close()


def sleep_ms(ms):
    time.sleep(ms / 1000)


def ticks_ms():
    return time.monotonic_ns() // 1_000_000
