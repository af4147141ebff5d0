# heapsize: 256K
# Join payloads, spec 3.1-3.3.
from nerves_hub_link.errors import ConfigError
from nerves_hub_link.join import (
    auto_revert_detected,
    console_join_payload,
    device_join_payload,
    extensions_join_payload,
    firmware_validated,
)
from support import raises

# the upstream test config of spec 3.1
KV = {
    "nerves_fw_active": "a",
    "a.nerves_fw_uuid": "8a8b902c-d1a9-58aa-6111-04ab57c2f2a8",
    "a.nerves_fw_product": "nerves_hub",
    "a.nerves_fw_architecture": "x86_64",
    "a.nerves_fw_version": "0.1.0",
    "a.nerves_fw_platform": "x86_84",
    "a.nerves_fw_misc": "extra comments",
    "a.nerves_fw_description": "test firmware",
    "b.nerves_fw_uuid": "other-slot",
    "nerves_fw_devpath": "/tmp/fwup_bogus_path",
    "nerves_serial_number": "test",
    "nh_shared_secret": "do-not-send",
}


def test_device_join_payload_exact():
    assert device_join_payload(KV, "1.10.1", "2.3.0", "2.0.0") == {
        "nerves_fw_uuid": "8a8b902c-d1a9-58aa-6111-04ab57c2f2a8",
        "nerves_fw_product": "nerves_hub",
        "nerves_fw_architecture": "x86_64",
        "nerves_fw_version": "0.1.0",
        "nerves_fw_platform": "x86_84",
        "nerves_fw_misc": "extra comments",
        "nerves_fw_description": "test firmware",
        "fwup_version": "1.10.1",
        "device_api_version": "2.3.0",
        "console_version": "2.0.0",
        "currently_downloading_uuid": None,
        "meta": {"firmware_validated": True, "firmware_auto_revert_detected": False},
    }


def test_device_join_payload_b_slot_and_options():
    kv = dict(KV, nerves_fw_active="b")
    p = device_join_payload(kv, "1.10.1", "2.0.0", "2.0.0", currently_downloading_uuid="u-9",
                            request_fwup_public_keys=True, request_archive_public_keys=True,
                            meta=False)
    assert p == {"nerves_fw_uuid": "other-slot", "fwup_version": "1.10.1",
                 "device_api_version": "2.0.0", "console_version": "2.0.0",
                 "currently_downloading_uuid": "u-9", "fwup_public_keys": "on_connect",
                 "archive_public_keys": "on_connect"}


def test_firmware_validated_rules():
    assert firmware_validated({}) is True
    assert firmware_validated({"upgrade_available": "1", "a.nerves_fw_validated": "1"}) is False
    assert firmware_validated({"upgrade_available": "0", "a.nerves_fw_validated": "0"}) is True
    assert firmware_validated({"a.nerves_fw_validated": "0"}) is False
    assert firmware_validated({"nerves_fw_validated": "0"}) is False
    assert firmware_validated({"nerves_fw_active": "b", "a.nerves_fw_validated": "0"}) is True


def test_auto_revert_detection():
    kv = {"nerves_fw_active": "a", "b.nerves_fw_validated": "0",
          "b.nerves_fw_platform": "rpi0", "b.nerves_fw_architecture": "arm"}
    assert auto_revert_detected(kv) is True
    assert auto_revert_detected(dict(kv, **{"b.nerves_fw_platform": ""})) is False
    assert device_join_payload(kv, "1.0.0")["meta"]["firmware_auto_revert_detected"] is True


def test_console_and_extensions_payloads():
    assert console_join_payload() == {"console_version": "2.0.0", "device_api_version": "2.3.0"}
    assert extensions_join_payload() == {}
    assert extensions_join_payload([("health", "0.0.1"), ("geo", "0.0.1")]) == \
        {"health": "0.0.1", "geo": "0.0.1"}
    assert extensions_join_payload({"geo": "0.0.1"}) == {"geo": "0.0.1"}
    raises(ConfigError, extensions_join_payload, [("geo", 1)])


def test_bad_inputs():
    raises(ConfigError, device_join_payload, [("a", "b")], "1.0.0")
    raises(ConfigError, device_join_payload, KV, None)
