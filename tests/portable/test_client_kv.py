# heapsize: 128K
# The firmware KV used by the link and the client defaults (kv.py).
from nerves_hub_link.errors import ConfigError
from nerves_hub_link.kv import JSONFileKV, MemoryKV, active, active_slot
from support import raises

PATH = "/tmp/nhl_test_kv.json"


def _rm(path):
    import os

    try:
        os.remove(path)
    except OSError:
        pass


def test_memory_kv_set_get_delete_and_copy():
    init = {"a": "1"}
    kv = MemoryKV(init)
    kv.set({"b": 2, "a": None})
    assert kv.get("a") is None and kv.get("b") == "2"
    assert init == {"a": "1"}
    snapshot = kv.all()
    snapshot["c"] = "3"
    assert kv.get("c") is None


def test_json_file_kv_persists_and_starts_from_defaults():
    _rm(PATH)
    kv = JSONFileKV(PATH, {"nerves_fw_active": "b"})
    kv.set({"b.nerves_fw_uuid": "u-9"})
    again = JSONFileKV(PATH, {"nerves_fw_active": "a"})
    assert again.get("nerves_fw_active") == "b"
    assert again.get("b.nerves_fw_uuid") == "u-9"


def test_json_file_kv_corrupt_file_is_config_error():
    with open(PATH, "w") as f:
        f.write("[1, 2]")
    e = raises(ConfigError, JSONFileKV, PATH)
    assert "not a JSON object" in str(e) and "delete it" in str(e)
    _rm(PATH)


def test_active_slot_keys_fall_back_to_global():
    kv = MemoryKV({"b.nerves_fw_version": "2.0.0", "nerves_fw_version": "g",
                   "nerves_fw_devpath": "/dev/x"})
    assert active_slot(kv) == "a"
    assert active(kv, "nerves_fw_version") == "g"
    kv.set({"nerves_fw_active": "b"})
    assert active(kv, "nerves_fw_version") == "2.0.0"
    assert active(kv, "nerves_fw_devpath") == "/dev/x"
    assert active(kv, "missing") is None
