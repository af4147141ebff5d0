"""ESP32 board HAL: whole-firmware A/B updates on the ``esp32.Partition`` OTA slots.

Layout of the fwup device (``Esp32Board.dev``, 512-byte blocks):

- every OTA app partition (``ota_0`` = slot a, ``ota_1`` = slot b) sits at its flash address
  / 512, so an archive's ``raw_write(${OTA_1_BLOCK})`` lands in the partition; only the
  next-update partition is writable, the running app is refused;
- the U-Boot environment holding the firmware KV sits at ``ENV_BLOCK_OFFSET`` (a virtual
  offset past the end of any ESP32 flash), backed by a data partition labelled ``nhl_env``
  when the partition table has one, else by the file ``ENV_FILE`` on the VFS.

Activation after a successful apply: the archive's ``on-finish`` set ``nerves_fw_active``;
``activate()`` calls ``set_boot()`` on that slot (ESP-IDF checks the app image) and puts it
on trial with ``nerves_hub_link.firmware`` (the KV bookkeeping shared with every port).
After ``machine.reset()`` the bootloader starts the new app in "pending verify";
``mark_valid()`` confirms it (``mark_app_valid_cancel_rollback()`` plus the KV keys). An app
that resets without confirming is rolled back by the bootloader, and ``boot()`` brings the
KV in line with the slot that really runs (it returns ``firmware.REVERTED``).
Largest buffer: one 4096-byte flash sector (the next slot's write-back cache) plus one
environment (8 KiB) while the KV is read or written.
"""

import esp32
import machine
from nerves_hub_link import firmware
from nerves_hub_link.errors import UpdateError
from nhl_envkv import EnvKV
from nhl_flashmap import FWUP_BLOCK, FileWindow, FlashMap, PartitionWindow

SLOT_OF_LABEL = {"ota_0": "a", "ota_1": "b"}
LABEL_OF_SLOT = {"a": "ota_0", "b": "ota_1"}
ENV_BLOCK_OFFSET = 0x2000000 // FWUP_BLOCK  # 65536: past the end of a 32 MiB flash
ENV_BLOCK_COUNT = 16  # 8 KiB
ENV_PARTITION = "nhl_env"
ENV_FILE = "/nhl_fwenv.bin"
ESP_ERR_OTA_ROLLBACK_INVALID_STATE = -261


class Esp32Board:
    """The fwup device, firmware KV and A/B boot control of one ESP32."""

    name = "esp32"

    def __init__(self, env_file=ENV_FILE):
        P = esp32.Partition
        self.running_label = P(P.RUNNING).info()[4]
        self.dev = FlashMap()
        for part in P.find(P.TYPE_APP):
            info = part.info()
            label = info[4]
            if label in SLOT_OF_LABEL:
                self.dev.add(info[2] // FWUP_BLOCK,
                             PartitionWindow(part, label, label != self.running_label))
        env_parts = P.find(P.TYPE_DATA, label=ENV_PARTITION)
        if env_parts:
            win = PartitionWindow(env_parts[0], "env")
        else:
            win = FileWindow(env_file, ENV_BLOCK_COUNT * FWUP_BLOCK, "env")
        self.dev.add(ENV_BLOCK_OFFSET, win)
        self.kv = EnvKV(self.dev, ENV_BLOCK_OFFSET, ENV_BLOCK_COUNT)
        self.fw = firmware.Firmware(self.kv, bootlimit=1)
        self._booted = None
        self._activated = None  # the slot activate() switched to (it runs once per update)

    @property
    def running(self):
        """The slot whose app runs ("a"/"b"), None for a factory app."""
        return SLOT_OF_LABEL.get(self.running_label)

    def running_slot(self):
        """"a" or "b"; None when a factory app runs (same as ``running``)."""
        return self.running

    def next_slot(self):
        P = esp32.Partition
        return SLOT_OF_LABEL.get(P(P.RUNNING).get_next_update().info()[4])

    def prepare(self):
        """Start of an update (the applier factory calls it): returns the slot it will write."""
        self._activated = None
        return self.next_slot()

    def boot(self):
        """Reconcile the KV with the slot the bootloader started; call first on every boot.

        Returns ``firmware.VALID``, ``TRIAL`` (a new app runs and must call ``mark_valid()``
        before the next reset), ``VALIDATED`` (auto-validated) or ``REVERTED`` (the KV named
        a slot that does not run: the bootloader rolled back an unconfirmed app).
        Only the first call per HAL object does the work; later calls return its result.
        """
        if self._booted is None:
            self._booted = self._boot()
        return self._booted

    def _boot(self):
        running = self.running_slot()
        if running is None:
            return firmware.VALID  # a factory app: no slot to keep track of
        active = self.kv.get("nerves_fw_active")
        if active is None:
            # First boot after esptool flashed the app: adopt the running slot.
            self.kv.set({"nerves_fw_active": running})
            return firmware.VALID
        if active != running:
            self.kv.set({"nerves_fw_active": running, "upgrade_available": "0",
                         "bootcount": "0", active + ".nerves_fw_validated": "0",
                         "nerves_fw_validated": self.kv.get(running + ".nerves_fw_validated")
                         or "1"})
            return firmware.REVERTED
        state = self.fw.validate_on_boot()
        if state == firmware.VALIDATED:
            self._cancel_rollback()
        elif state == firmware.REVERTED:
            # The trial boots are used up but the bootloader kept the app: go back by hand.
            esp32.Partition(LABEL_OF_SLOT[self.fw.active()]).set_boot()
            self.reboot()
        return state

    def activate(self, previous=None):
        """Boot the slot the archive just wrote (call after ``Applier.finish()``).

        ``previous`` is the slot that ran while the archive was applied (default: the
        running one). The new slot boots on trial; returns its name.
        """
        if self._activated is not None:
            return self._activated
        self.dev.sync()
        previous = previous or self.running_slot()
        new = self.fw.active()
        if self.kv.get("nerves_fw_active") is None or new == previous:
            raise UpdateError("the archive did not switch slots: nerves_fw_active=%r while slot %r"
                              " runs" % (self.kv.get("nerves_fw_active"), previous),
                              "apply the 'upgrade' task of an A/B archive (boards/esp32/fwup.conf)")
        try:
            esp32.Partition(LABEL_OF_SLOT[new]).set_boot()
        except OSError as e:
            self.kv.set({"nerves_fw_active": previous})
            raise UpdateError("ESP-IDF rejected the app image in %s (set_boot: OSError %s); still"
                              " booting slot %r" % (LABEL_OF_SLOT[new], e.args[0], previous),
                              "the archive must carry the app image micropython.bin (first byte"
                              " 0xE9), not the combined flash image")
        self.fw.after_update(previous)
        self._activated = new
        return new

    def _cancel_rollback(self):
        try:
            esp32.Partition.mark_app_valid_cancel_rollback()
        except OSError as e:
            if e.args[0] != ESP_ERR_OTA_ROLLBACK_INVALID_STATE:
                raise

    def mark_valid(self):
        """Confirm the running app: cancels the bootloader's rollback. Safe on every boot."""
        self._cancel_rollback()
        if self.running_slot() is None:
            return False
        return self.fw.mark_valid()

    def revert(self, reboot=True):
        """Boot the other slot's firmware next (it must hold a valid image), then reset."""
        old = firmware.other_slot(self.fw.active())
        try:
            esp32.Partition(LABEL_OF_SLOT[old]).set_boot()
        except OSError as e:
            raise UpdateError("cannot revert: slot %r holds no valid app (set_boot: OSError %s)"
                              % (old, e.args[0]))
        # set_boot() makes the old app "new" again, so it boots on trial like any update.
        self.fw.activate(old)
        if reboot:
            self.reboot()

    def reboot(self):
        """A hard reset (a soft reset would keep the old firmware running)."""
        self.dev.sync()
        machine.reset()

    def i2c(self, bus=0, scl=None, sda=None, freq=100000):
        """``machine.I2C`` for a NervesKey: has ``writeto``/``readfrom_into`` as the HAL needs."""
        if scl is None:
            return machine.I2C(bus, freq=freq)
        return machine.I2C(bus, scl=machine.Pin(scl), sda=machine.Pin(sda), freq=freq)
