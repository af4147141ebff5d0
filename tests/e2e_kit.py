"""Shared scaffolding of the end-to-end tests (CPython): the in-process device over a flash
image, hosting and pushing an update, and waiting for joins and statuses.

The per-test fixtures built on these (``hub_dir``, ``hub``, ``run_device``) are in
``tests/conftest.py``.
"""

import asyncio
import os
import sys
import threading

from demo import ENV_COUNT, ENV_OFFSET, ENV_REDUND, provision
from nhl.hub import firmware as hubfw
from nhl.hub import init_dir
from nhl.hub.testing import device_config

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "boards", "common"))
from nhl_envkv import EnvKV  # noqa: E402  (board helper: U-Boot env KV over a block device)

IDENT = "device-1"


def make_hub_dir(tmp_path_factory, devices=(IDENT,)):
    """A fresh ``nhl hub`` directory (CA, server certificate) with *devices* registered."""
    d = str(tmp_path_factory.mktemp("hub"))
    init_dir(d, devices=devices)
    return d


def provision_v1(hub, releases, tmp_path, ident=IDENT):
    """``tmp_path/flash.img`` with ``releases["v1"]`` installed (task complete) and a device
    config trusting ``releases["key"]``; returns ``(cfg_path, flash_path)``."""
    flash = provision(str(tmp_path / "flash.img"), releases["v1"], releases["pub"])
    cfg = device_config(hub, str(tmp_path), "dev", identifier=ident,
                        fwup_public_keys=[releases["key"]])
    return cfg, flash


class FlashDevice:
    """A CPython device in its own thread over a flash image (U-Boot env KV in the image);
    a reboot starts a fresh Link on the same flash.

    ``boots``: the active slot after each boot's ``validate_on_boot()``; ``reboot_images``:
    the flash bytes when each reboot was asked for; ``errors``: exceptions of the thread.
    """

    def __init__(self, cfg_path, flash, validate=True, idle_timeout=1500):
        self.cfg_path = cfg_path
        self.flash = flash
        self.validate = validate
        self.idle_timeout = idle_timeout
        self.boots = []
        self.reboot_images = []
        self.stopping = False
        self.rebooting = False
        self.errors = []
        self.link = None
        self.loop = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self):
        try:
            while not self.stopping:
                self.rebooting = False
                asyncio.run(self._boot())
                if not self.rebooting:
                    break
        except Exception as e:  # reported by the test
            self.errors.append(e)

    async def _boot(self):
        from nerves_hub_link.config import Config, build
        from nerves_hub_link.fwup.blockdev import FileBlockDevice
        from nerves_hub_link.link import Link
        from nerves_hub_link.update_manager import attach
        from nhl_port.device import CPythonHAL

        cfg = build(Config.from_json_file(self.cfg_path, {"download": {
            "time_between_retries_ms": 20, "idle_timeout_ms": self.idle_timeout}}))
        hal = CPythonHAL(cfg.data_path, reboot=self._reboot)
        dev = FileBlockDevice(self.flash)
        kv = EnvKV(dev, ENV_OFFSET, ENV_COUNT, ENV_REDUND)
        link = Link(cfg, hal, kv=kv)
        attach(link, hal, dev=dev, validate_on_connect=self.validate,
               retry=cfg.download_retry())
        self.boots.append(kv.get("nerves_fw_active"))  # attach() ran validate_on_boot()
        self.loop = asyncio.get_running_loop()
        self.link = link
        await link.run()

    def _reboot(self):
        with open(self.flash, "rb") as f:
            self.reboot_images.append(f.read())
        self.rebooting = True
        self.link.stop()

    def stop(self):
        self.stopping = True
        if self.loop is not None and self.link is not None:
            self.loop.call_soon_threadsafe(self.link.stop)
        self.thread.join(10)


def offer(hub, path, name, faults=(), ident=IDENT):
    """Host *path* with a fault plan and push its `update` (like a deployment would);
    returns ``(hosted firmware, update payload)``."""
    async def go():
        fw = hub.hub.add_firmware(path, name)
        fw.faults = list(faults)
        payload = hubfw.update_payload(hub.hub.firmware_url(name), fw.path, fw.meta)
        await hub.hub.push(ident, "device", "update", payload)
        return fw, payload

    return hub.call(go())


def statuses(hub, ident=IDENT):
    """The ``status_update`` statuses the device pushed, oldest first."""
    return [m["payload"]["status"] for m in hub.messages(ident, "status_update")]


def wait_on_version(hub, version, timeout=20, ident=IDENT):
    """Wait until *ident* is connected and joined with ``nerves_fw_version`` *version*."""
    def ok(state):
        rec = state.devices.get(ident)
        return (rec is not None and rec.connection is not None and "device" in rec.joined
                and (rec.join_params.get("device") or {}).get("nerves_fw_version") == version)

    hub.wait(ok, timeout, "%s joined on %s" % (ident, version))
