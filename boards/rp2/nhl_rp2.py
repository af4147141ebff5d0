"""Pico W / Pico 2 W board HAL: app-only A/B updates on the VFS.

Mainline MicroPython cannot write the RP2040/RP2350 firmware area from Python, so an update
replaces the application, not the firmware. Each slot is a directory on the filesystem
(``/nhl/a``, ``/nhl/b``); the archive's resources (the app's ``.py``/``.mpy`` files, entry
module ``app``) are written into the *next* slot with fwup's ``path_write`` action
(``boards/rp2/fwup.conf``). The firmware KV is a U-Boot environment in the file
``/nhl/fwenv.bin``, which is also the fwup device (the archive's ``uboot_setenv`` actions
switch ``nerves_fw_active``), so the same archive format and KV keys as every other board
apply.

At boot ``boot()`` runs ``nerves_hub_link.firmware``'s bootcount logic (one trial boot:
a slot that fails to validate is abandoned on the next boot), then puts the active slot's
directory first on ``sys.path`` so ``import app`` loads that slot's application.
``PathGuard`` confines ``path_write`` to the slots that do not run: the running app's files
are never written. Largest buffer: one environment (8 KiB) while the KV is read or written.
"""

import sys

import machine
from nerves_hub_link import firmware
from nerves_hub_link.errors import UpdateError
from nerves_hub_link.fsutil import exists, makedirs, rmtree
from nhl_envkv import EnvKV
from nhl_flashmap import FWUP_BLOCK, FileWindow, FlashMap

ROOT = "/nhl"
ARCHIVE_ROOT = "/nhl"  # where path_write targets live in archives (boards/rp2/fwup.conf)
ENV_NAME = "fwenv.bin"
ENV_BLOCK_OFFSET = 0
ENV_BLOCK_COUNT = 16  # 8 KiB
APP_FILES = ("app.mpy", "app.py", "app/__init__.mpy", "app/__init__.py")


class Rp2Board:
    """Slot directories, the fwup device and the firmware KV of one Pico W."""

    name = "rp2"

    def __init__(self, root=ROOT):
        self.root = root
        for slot in firmware.SLOTS:
            makedirs(self.slot_dir(slot))
        self.dev = FlashMap()
        self.dev.add(ENV_BLOCK_OFFSET,
                     FileWindow(root + "/" + ENV_NAME, ENV_BLOCK_COUNT * FWUP_BLOCK, "env"))
        self.kv = EnvKV(self.dev, ENV_BLOCK_OFFSET, ENV_BLOCK_COUNT)
        self.fw = firmware.Firmware(self.kv, bootlimit=1)
        self.slot = None
        self._booted = None
        self._activated = None  # the slot activate() switched to (it runs once per update)
        active = self.fw.active()
        self.running = active if self.has_app(active) else None

    def slot_dir(self, slot):
        return self.root + "/" + slot

    def has_app(self, slot):
        d = self.slot_dir(slot)
        for name in APP_FILES:
            if exists(d + "/" + name):
                return True
        return False

    def boot(self):
        """Pick the slot to run (call first in ``main.py``): returns the firmware state.

        A trial slot that did not validate during its one trial boot is abandoned here and
        the previous slot runs again (``firmware.REVERTED``). The chosen slot's directory
        goes first on ``sys.path``; ``self.slot`` is None when no slot holds an app yet.
        Only the first call per HAL object does the work; later calls return its result.
        """
        if self._booted is not None:
            return self._booted
        if self.kv.get("nerves_fw_active") is None:
            # A fresh board: slot a is "active" (empty), so the first update lands in slot b.
            self.kv.set({"nerves_fw_active": "a"})
        state = self._booted = self.fw.validate_on_boot()
        slot = self.fw.active()
        if not self.has_app(slot):
            slot = None
        if slot is not None:
            d = self.slot_dir(slot)
            if d not in sys.path:
                sys.path.insert(0, d)
        self.slot = self.running = slot
        return state

    def next_slot(self):
        """The slot an upgrade writes: not the running one ("a" when no slot runs yet)."""
        return firmware.other_slot(self.running) if self.running else "a"

    def writable_slots(self):
        return tuple(s for s in firmware.SLOTS if s != self.running)

    def prepare(self):
        """Empty the slots an archive may write before it runs; returns the next slot.

        Stale modules of an older app must not survive next to the new ones.
        """
        self._activated = None
        for slot in self.writable_slots():
            rmtree(self.slot_dir(slot), keep_root=True)
        return self.next_slot()

    def path_guard(self):
        """The ``fs`` for ``Applier``: ``path_write`` reaches the non-running slots only."""
        return PathGuard(self.root, self.writable_slots())

    def activate(self, previous=None):
        """After ``Applier.finish()``: the slot the archive switched to boots next, on trial.

        ``previous`` is the slot that ran while the archive was applied (default: the running
        one; None on a device that has no app in a slot yet).
        """
        if self._activated is not None:
            return self._activated
        previous = previous or self.running
        new = self.fw.active()
        if previous is None and self.kv.get("nerves_fw_active"):
            self.fw.activate(new)
        else:
            new = self.fw.after_update(previous)
        if new is None:
            raise UpdateError("the archive did not switch slots: nerves_fw_active is still %r"
                              % previous,
                              "apply the 'upgrade' task of an A/B archive (boards/rp2/fwup.conf)")
        if not self.has_app(new):
            self.kv.set({"nerves_fw_active": previous or None, "upgrade_available": "0"})
            raise UpdateError("slot %r holds no app after the update (looked for %s in %s)"
                              % (new, "/".join(APP_FILES), self.slot_dir(new)),
                              "the archive must path_write app.py or app.mpy into the slot")
        self._activated = new
        return new

    def mark_valid(self):
        return self.fw.mark_valid()

    def revert(self, reboot=True):
        self.fw.revert()
        if reboot:
            self.reboot()

    def reboot(self):
        machine.reset()

    def i2c(self, bus=0, scl=None, sda=None, freq=100000):
        """``machine.I2C`` for a NervesKey (Pico W: I2C0 on GP4/GP5 by default)."""
        if scl is None:
            return machine.I2C(bus, freq=freq)
        return machine.I2C(bus, scl=machine.Pin(scl), sda=machine.Pin(sda), freq=freq)


class PathGuard:
    """The ``fs`` for ``Applier``'s ``path_write``: confines writes to writable slot dirs.

    Archives name paths under ``ARCHIVE_ROOT`` (``/nhl/b/app.mpy``); the guard maps that root
    onto the board's root and accepts only file paths inside ``slot_dirs`` (never the
    running slot, no ``..``, no trailing ``/``). Anything else raises ``UpdateError`` before
    a file is opened.
    """

    def __init__(self, root, slots):
        self.root = root
        self.slots = slots

    def resolve(self, path):
        slot = None
        if path.startswith(ARCHIVE_ROOT + "/"):
            rest = path[len(ARCHIVE_ROOT) + 1:]
            if "/" in rest:
                slot = rest[:rest.index("/")]
        if ".." in path.split("/") or slot not in self.slots or path.endswith("/"):
            raise UpdateError("path_write to %r is outside the slots being updated (%s)"
                              % (path, ", ".join(ARCHIVE_ROOT + "/" + s for s in self.slots)),
                              "an app-only archive may write only into the next slot")
        local = self.root + path[len(ARCHIVE_ROOT):]
        makedirs(local[:local.rindex("/")])
        return local

    def open(self, path, mode="wb"):
        return open(self.resolve(path), mode)
