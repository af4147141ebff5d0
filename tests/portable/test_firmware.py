# heapsize: 256K
# A/B slots: trial after an update, validation, automatic revert on the next boot.
from nerves_hub_link import firmware as fwm
from nerves_hub_link.errors import UpdateError
from support import raises


class MemoryKV:
    """The HAL KV contract in RAM (None deletes)."""

    def __init__(self, initial=None):
        self.d = dict(initial or {})
        self.writes = 0

    def get(self, key):
        return self.d.get(key)

    def set(self, mapping):
        self.writes += 1
        for k in mapping:
            if mapping[k] is None:
                self.d.pop(k, None)
            else:
                self.d[k] = str(mapping[k])

    def all(self):
        return dict(self.d)


BASE = {
    "nerves_fw_active": "a",
    "a.nerves_fw_uuid": "uuid-v1",
    "a.nerves_fw_version": "1.0.0",
    "a.nerves_fw_platform": "host",
    "a.nerves_fw_architecture": "x86_64",
    "a.nerves_fw_validated": "1",
}


def _after_upgrade_to_b(kv):
    # what an upgrade task's on-finish writes, then the update manager's after_update
    kv.set({"b.nerves_fw_uuid": "uuid-v2", "b.nerves_fw_version": "2.0.0",
            "b.nerves_fw_platform": "host", "b.nerves_fw_architecture": "x86_64",
            "nerves_fw_active": "b"})
    return fwm.Firmware(kv).after_update("a")


def test_fresh_device_is_valid():
    fw = fwm.Firmware(MemoryKV(BASE))
    assert fw.active() == "a" and fw.is_valid() and not fw.auto_revert_detected()
    assert fw.validate_on_boot() == fwm.VALID
    assert fwm.Firmware(MemoryKV()).active() == "a"
    assert fwm.Firmware(MemoryKV()).is_valid()  # unknown is treated as valid


def test_update_puts_new_slot_on_trial():
    kv = MemoryKV(BASE)
    assert _after_upgrade_to_b(kv) == "b"
    fw = fwm.Firmware(kv)
    assert kv.get("upgrade_available") == "1" and kv.get("b.nerves_fw_validated") == "0"
    assert not fw.is_valid()
    assert fw.validate_on_boot() == fwm.TRIAL
    assert fw.active() == "b" and kv.get("bootcount") == "1"


def test_slot_that_never_validates_is_left_on_next_reboot():
    kv = MemoryKV(BASE)
    _after_upgrade_to_b(kv)
    fw = fwm.Firmware(kv)
    assert fw.validate_on_boot() == fwm.TRIAL  # first boot of b: its one chance
    assert fw.validate_on_boot() == fwm.REVERTED  # rebooted without mark_valid()
    assert fw.active() == "a" and fw.active_uuid() == "uuid-v1"
    assert fw.is_valid() and fw.auto_revert_detected()
    assert fw.validate_on_boot() == fwm.VALID  # and it stays on a
    assert fw.active() == "a"


def test_validated_slot_stays():
    kv = MemoryKV(BASE)
    _after_upgrade_to_b(kv)
    fw = fwm.Firmware(kv)
    assert fw.validate_on_boot() == fwm.TRIAL
    assert fw.mark_valid() is True
    writes = kv.writes
    assert fw.mark_valid() is False  # idempotent, no KV write
    assert kv.writes == writes
    assert fw.is_valid() and kv.get("b.nerves_fw_validated") == "1"
    for _ in range(3):
        assert fw.validate_on_boot() == fwm.VALID
    assert fw.active() == "b" and not fw.auto_revert_detected()


def test_bootlimit_gives_more_tries():
    kv = MemoryKV(dict(BASE, bootlimit="3"))
    _after_upgrade_to_b(kv)
    fw = fwm.Firmware(kv)
    assert [fw.validate_on_boot() for _ in range(4)] == [fwm.TRIAL] * 3 + [fwm.REVERTED]
    assert fw.active() == "a"


def test_autovalidate_validates_first_boot():
    kv = MemoryKV(dict(BASE, nerves_fw_autovalidate="1"))
    _after_upgrade_to_b(kv)
    fw = fwm.Firmware(kv)
    assert fw.validate_on_boot() == fwm.VALIDATED
    assert fw.is_valid() and fw.validate_on_boot() == fwm.VALID and fw.active() == "b"


def test_task_without_slot_switch_is_not_a_trial():
    kv = MemoryKV(BASE)
    assert fwm.Firmware(kv).after_update("a") is None
    assert kv.get("upgrade_available") is None


def test_activate_and_revert_by_hand():
    kv = MemoryKV(BASE)
    fw = fwm.Firmware(kv)
    raises(UpdateError, fw.revert)  # nothing in b yet
    raises(UpdateError, fw.activate, "c")
    _after_upgrade_to_b(kv)
    fw.mark_valid()
    assert fw.revert() == "a"
    assert fw.active() == "a" and fw.validate_on_boot() == fwm.VALID
    fw.activate("b")
    assert fw.active() == "b" and fw.on_trial()
    assert fw.slot_info("b")["nerves_fw_version"] == "2.0.0"
