"""HAL I2C adapters for the NervesKey transport (``writeto``, ``readfrom_into``, ``wake``).

* ``MachineI2C(i2c)``: MicroPython ``machine.I2C``/``SoftI2C`` -- create it with
  ``freq=100000`` so the address-0 wake write holds SDA low long enough (>= 60 us).
  ``wake_pulse`` may replace the default wake (e.g. a GPIO that pulls SDA low).
* ``BusDeviceI2C(i2c)``: CircuitPython/Blinka ``busio.I2C`` through
  ``adafruit_bus_device.i2c_device.I2CDevice`` created with ``probe=False`` (a sleeping
  chip NACKs, so the probe would fail); every transfer takes the bus lock.
No buffers of their own.
"""

from nerves_hub_link.errors import NervesKeyError


class MachineI2C:
    """Adapter for MicroPython's ``machine.I2C`` (already the HAL shape, plus ``wake``)."""

    def __init__(self, i2c, wake_pulse=None):
        self.i2c = i2c
        self._pulse = wake_pulse

    def writeto(self, addr, buf):
        self.i2c.writeto(addr, buf)

    def readfrom_into(self, addr, buf):
        self.i2c.readfrom_into(addr, buf)

    def wake(self):
        if self._pulse is not None:
            self._pulse()
            return
        try:
            self.i2c.writeto(0, b"\x00")
        except OSError:
            pass  # address 0 is never ACKed; the long low address phase is the pulse


class BusDeviceI2C:
    """Adapter for ``busio.I2C`` via ``adafruit_bus_device`` (``device_class`` for tests)."""

    def __init__(self, i2c, device_class=None):
        if device_class is None:
            try:
                from adafruit_bus_device.i2c_device import I2CDevice  # portable: ok
            except ImportError:
                raise NervesKeyError("adafruit_bus_device is not installed",
                                     hint="install the adafruit-circuitpython-busdevice "
                                          "library, or pass a MicroPython machine.I2C to "
                                          "MachineI2C")
            device_class = I2CDevice
        self.i2c = i2c
        self._cls = device_class
        self._devs = {}

    def _dev(self, addr):
        d = self._devs.get(addr)
        if d is None:
            d = self._devs[addr] = self._cls(self.i2c, addr, probe=False)
        return d

    def writeto(self, addr, buf):
        d = self._dev(addr)
        with d:
            d.write(buf)

    def readfrom_into(self, addr, buf):
        d = self._dev(addr)
        with d:
            d.readinto(buf)

    def wake(self):
        try:
            self.writeto(0, b"\x00")
        except OSError:
            pass
