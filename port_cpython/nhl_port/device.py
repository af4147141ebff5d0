"""The CPython device HAL: clock, randomness, network/TLS, KV file, flash image, reboot.

``CPythonHAL(data_path, reboot="exec")`` keeps its state in *data_path*: ``kv.json`` (the
firmware KV) and the flash image named by the config's ``block_device``. Reboot either
re-executes the process (``"exec"``, like a device restart), exits (``"exit"``, status 0),
or calls a function.
"""

import os
import sys
import time

from nerves_hub_link.kv import JSONFileKV

from nhl_port import net

DEFAULT_KV = {
    "nerves_fw_active": "a",
    "a.nerves_fw_product": "nhl-device",
    "a.nerves_fw_version": "0.0.0",
    "a.nerves_fw_platform": "host",
    "a.nerves_fw_architecture": "generic",
    "a.nerves_fw_uuid": "00000000-0000-0000-0000-000000000000",
}


class CPythonHAL:
    name = "cpython"

    def __init__(self, data_path, reboot="exec", kv_defaults=None):
        self.data_path = data_path
        try:
            os.makedirs(data_path, exist_ok=True)
        except OSError as e:
            from nerves_hub_link.errors import ConfigError

            raise ConfigError("cannot create data_path %s: %s" % (data_path, e),
                              hint="set data_path to a writable directory")
        self.kv = JSONFileKV(os.path.join(data_path, "kv.json"),
                             DEFAULT_KV if kv_defaults is None else kv_defaults)
        self._reboot = reboot
        self._block_device = None

    # clock and randomness
    def ticks_ms(self):
        return int(time.monotonic() * 1000)

    def unix_time(self):
        return int(time.time())

    def rand(self, n):
        return os.urandom(n)

    async def sleep_ms(self, ms):
        import asyncio

        await asyncio.sleep(ms / 1000)

    # network
    def tls_context(self, ca_certs_der, cert_der=None, key_der=None, server_name=None):
        return net.tls_context(ca_certs_der, cert_der, key_der, server_name)

    async def open_connection(self, host, port, tls=None):
        return await net.open_connection(host, port, tls)

    # NervesKey
    def nerves_key(self, opts):
        """The NervesKey for ``nerves_key`` options: the simulated ATECC608A loaded from
        ``opts["sim"]`` (a vectors.json chip image), else ``opts["bus"]`` (``/dev/i2c-N``)."""
        from nerves_hub_link.nerves_key import NervesKey

        address = opts.get("address", 0x60)
        if opts.get("sim"):
            from nhl_port.atecc_sim import AteccSim, SimClock

            clock = SimClock()
            try:
                chip = AteccSim.from_json(opts["sim"], clock=clock, address=address)
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
                from nerves_hub_link.errors import ConfigError

                raise ConfigError("nerves_key.sim: cannot load chip image %s: %s"
                                  % (opts["sim"], e))
            return NervesKey(chip, clock.sleep_ms, clock.ticks_ms, address)
        from nhl_port.i2c_linux import LinuxI2C, sleep_ms, ticks_ms

        return NervesKey(LinuxI2C(opts.get("bus", 1)), sleep_ms, ticks_ms, address)

    # flash
    def block_device(self, path, size=0, block_size=512):
        """The flash image file as a block device (created with *size* bytes if missing)."""
        if self._block_device is None:
            from nerves_hub_link.fwup.blockdev import FileBlockDevice

            if size and not os.path.exists(path):
                with open(path, "wb") as f:
                    f.truncate(size)
            self._block_device = FileBlockDevice(path)
        return self._block_device

    def reboot(self):
        sys.stdout.flush()
        if callable(self._reboot):
            self._reboot()
            return
        if self._reboot == "exit":
            os._exit(0)
        argv = getattr(sys, "orig_argv", None) or [sys.executable] + sys.argv
        os.execv(sys.executable, argv)
