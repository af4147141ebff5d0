# heapsize: 256K
# UpdateInfo / FirmwareMetadata / ArchiveInfo parsing (spec §4.5).
from nerves_hub_link.errors import UpdateError
from nerves_hub_link.update_info import ArchiveInfo, FirmwareMetadata, UpdateInfo, redact_url
from support import raises

META = {"architecture": "x86_64", "author": "me", "description": "d", "misc": "m",
        "platform": "host", "product": "nerves-hub", "uuid": "8a8b902c-d1a9-58aa-6111",
        "vcs_identifier": "abc", "version": "1.0.0"}


def test_update_with_configured_keys():
    info = UpdateInfo.parse({"update_available": True, "firmware_url": "https://x/f.fw?sig=1",
                             "firmware_meta": META, "deployment_id": 7})
    assert info.firmware_url == "https://x/f.fw?sig=1"
    assert info.uuid == META["uuid"] and info.firmware_meta.version == "1.0.0"
    assert info.size is None and info.checksum is None and info.partials_checksums == []
    assert info.deployment_id == 7
    assert "sig=1" not in repr(info)


def test_update_with_size_and_checksums():
    info = UpdateInfo.parse({"firmware_url": "http://x/f", "firmware_meta": META,
                             "size": 2097152, "checksum": "A" * 64,
                             "partials_checksums": ["B" * 64, "C" * 64]})
    assert info.size == 2097152 and info.checksum == "A" * 64
    assert info.partials_checksums == ["B" * 64, "C" * 64]


def test_missing_fields_are_invalid_params():
    e = raises(UpdateError, UpdateInfo.parse, {"firmware_url": "http://x/f"})
    assert "firmware_meta" in e.message
    e = raises(UpdateError, UpdateInfo.parse, {"firmware_meta": META})
    assert "firmware_url" in e.message
    raises(UpdateError, UpdateInfo.parse, "nope")
    raises(UpdateError, UpdateInfo.parse, {"firmware_url": "http://x/f", "firmware_meta": []})


def test_bad_values_are_named():
    e = raises(UpdateError, UpdateInfo.parse, {"firmware_url": "ftp://x/f", "firmware_meta": {}})
    assert "ftp://x/f" in e.message
    raises(UpdateError, UpdateInfo.parse, {"firmware_url": "http:///f", "firmware_meta": {}})
    raises(UpdateError, UpdateInfo.parse, {"firmware_url": 5, "firmware_meta": {}})
    e = raises(UpdateError, UpdateInfo.parse,
               {"firmware_url": "http://x/f", "firmware_meta": {"uuid": 12}})
    assert "'uuid'" in e.message and "12" in e.message
    e = raises(UpdateError, UpdateInfo.parse,
               {"firmware_url": "http://x/f", "firmware_meta": {}, "size": -1})
    assert "size" in e.message
    raises(UpdateError, UpdateInfo.parse,
           {"firmware_url": "http://x/f", "firmware_meta": {}, "partials_checksums": [1]})


def test_metadata_never_fails_on_missing_fields():
    m = FirmwareMetadata.parse({})
    assert m.uuid is None and m.version is None
    assert FirmwareMetadata.parse(META) == FirmwareMetadata(**META)


def test_archive_info():
    a = ArchiveInfo.parse({"size": 10, "uuid": "u", "version": "1", "description": "d",
                           "platform": "p", "architecture": "a",
                           "uploaded_at": "2024-01-01T00:00:00", "url": "https://s/a.fw?x=y"})
    assert a.size == 10 and a.url == "https://s/a.fw?x=y" and "x=y" not in repr(a)
    raises(UpdateError, ArchiveInfo.parse, {"uuid": "u"})
    raises(UpdateError, ArchiveInfo.parse, {"url": "https://s/a", "size": "big"})
    assert redact_url("http://h/p?k=v") == "http://h/p?[REDACTED]"
