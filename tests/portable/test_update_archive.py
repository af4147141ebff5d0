# heapsize: 2M
# Archive manager: fwup -V style verification of real fwup archives, download to data_path.
import asyncio
import os

from nerves_hub_link import archive_manager as am
from nerves_hub_link.errors import ArchiveError, CryptoError, FwupError, SignatureError
from support import fixture, raises, read
from test_download_driver import Clock, Net, head, ok

KEY = read(fixture("fwup", "keys", "fwup-key.pub")).decode()
OTHER = read(fixture("fwup", "keys", "other-key.pub")).decode()
NEG = ("fwup", "N_negative")
TMP = "/tmp/nhl_test_archive_%d" % (id(KEY) % 100000)


def _neg(name):
    return fixture(*(NEG + (name,)))


def test_valid_archive_verifies():
    mc = am.verify_archive(_neg("signed.fw"), [KEY])
    assert mc.meta["meta-product"] == "negative"
    assert am.verify_archive(_neg("signed.fw"), [OTHER, KEY]) is not None  # any key will do


def test_wrong_key_missing_signature_and_no_keys():
    e = raises(SignatureError, am.verify_archive, _neg("signed.fw"), [OTHER])
    assert "signature" in e.message
    raises(SignatureError, am.verify_archive, _neg("unsigned.fw"), [KEY])
    raises(SignatureError, am.verify_archive, _neg("signed.fw"), [])
    raises(CryptoError, am.verify_archive, _neg("signed.fw"), ["not a key"])


def test_damaged_archives_fail():
    raises(FwupError, am.verify_archive, _neg("corrupt_signature.fw"), [KEY])  # zip CRC
    raises(SignatureError, am.verify_archive, _neg("tampered_meta_conf.fw"), [KEY])
    e = raises(FwupError, am.verify_archive, _neg("corrupt_data_byte.fw"), [KEY])
    assert "a.bin" in str(e) or "CRC" in str(e)
    raises(FwupError, am.verify_archive, _neg("truncated_mid_a.fw"), [KEY])
    raises(ArchiveError, am.verify_archive, _neg("missing_b.fw"), [KEY])
    raises(FwupError, am.verify_archive, _neg("not_a_zip.fw"), [KEY])


def test_archive_basename_is_safe():
    assert am.archive_basename("https://s3/bucket/abc.fw?X-Amz=1") == "abc.fw"
    assert am.archive_basename("https://s3/a/..%2f..%2fetc") == "_2f.._2fetc"
    assert am.archive_basename("https://s3/") == "archive.fw"
    assert am.archive_basename("https://s3/x/../../../etc/passwd") == "passwd"


class Client:
    def __init__(self, answer):
        self.answer = answer
        self.ready = []
        self.asked = 0

    def archive_available(self, info):
        self.asked += 1
        return self.answer

    def archive_ready(self, info, path):
        self.ready.append((info.uuid, path))


PAYLOAD = {"size": 54016, "uuid": "arch-1", "version": "1.0.0", "description": "d",
           "platform": "p", "architecture": "a", "uploaded_at": "2024-01-01T00:00:00",
           "url": "http://hub:4000/archives/neg.fw?sig=xyz"}


def _manager(body, client, keys=(KEY,), fallback=None):
    spawned = []
    clock = Clock()
    net = Net([ok(body)])
    m = am.ArchiveManager(TMP, net.open_connection, clock.ticks_ms, client=client,
                          archive_public_keys=keys, fallback_keys=fallback,
                          sleep_ms=clock.sleep_ms, spawn=spawned.append)
    return m, spawned, net


def _run(spawned):
    while spawned:
        asyncio.run(_wrap(spawned.pop(0)))


async def _wrap(c):
    return await c


def _cleanup():
    for p in (TMP + "/archives/neg.fw", TMP + "/archives/neg.fw.download"):
        try:
            os.remove(p)
        except OSError:
            pass


def test_download_verify_and_ready():
    _cleanup()
    c = Client("download")
    m, spawned, net = _manager(read(_neg("signed.fw")), c)
    assert m.on_archive(PAYLOAD) == am.DOWNLOADING
    assert m.on_archive(PAYLOAD) == am.DOWNLOADING and c.asked == 1  # one at a time
    _run(spawned)
    path = TMP + "/archives/neg.fw"
    assert c.ready == [("arch-1", path)] and m.status == am.IDLE
    assert read(path) == read(_neg("signed.fw"))
    raises(OSError, os.stat, path + ".download")
    _cleanup()


def test_bad_archive_is_deleted_and_not_ready():
    _cleanup()
    c = Client("download")
    m, spawned, _ = _manager(read(_neg("signed.fw")), c, keys=(OTHER,))
    m.on_archive(PAYLOAD)
    _run(spawned)
    assert c.ready == [] and m.status == am.IDLE
    assert isinstance(m.last_error, SignatureError)
    raises(OSError, os.stat, TMP + "/archives/neg.fw")


def test_failed_download_closes_the_file_before_deleting_it():
    # regression: the partial .download file was removed while still open (a FAT file
    # system refuses that, leaving the partial file behind)
    _cleanup()
    sinks, removed = [], []

    class Sink(am.FileSink):
        def __init__(self, path):
            super().__init__(path)
            self.closed = False
            sinks.append(self)

        def close(self):
            self.closed = True
            super().close()

    def remove(path):
        removed.append((path, [s.closed for s in sinks]))
        real_remove(path)

    real_sink, real_remove = am.FileSink, am.remove
    am.FileSink, am.remove = Sink, remove
    try:
        m, spawned, _ = _manager(b"", Client("download"))
        m.open_connection = Net([[head(404, [("Content-Length", 0)])]]).open_connection
        m.on_archive(PAYLOAD)
        _run(spawned)
    finally:
        am.FileSink, am.remove = real_sink, real_remove
    tmp = TMP + "/archives/neg.fw.download"
    assert m.status == am.IDLE and m.last_error is not None
    assert len(sinks) == 1 and removed[-1] == (tmp, [True])
    raises(OSError, os.stat, tmp)


def test_fallback_to_firmware_keys_and_refusal_without_keys():
    _cleanup()
    c = Client("download")
    m, spawned, _ = _manager(read(_neg("signed.fw")), c, keys=(), fallback=lambda: [KEY])
    m.on_archive(PAYLOAD)
    _run(spawned)
    assert len(c.ready) == 1
    _cleanup()
    c = Client("download")
    m, spawned, _ = _manager(b"", c, keys=(), fallback=lambda: [])
    assert m.on_archive(PAYLOAD) == am.IDLE and c.asked == 0 and spawned == []


def test_default_is_ignore_and_reschedule_asks_again():
    m, spawned, _ = _manager(b"", None)
    assert m.on_archive(PAYLOAD) == am.IDLE and spawned == []
    c = Client(("reschedule", 1000))
    m, spawned, _ = _manager(b"", c)
    assert m.on_archive(PAYLOAD) == am.RESCHEDULED
    c.answer = "ignore"
    _run(spawned)
    assert c.asked == 2 and m.status == am.IDLE


def test_server_keys_replace_but_never_clear():
    m, _, _ = _manager(b"", None, keys=())
    m.on_archive_public_keys({"keys": [OTHER]})
    m.on_archive_public_keys({"keys": []})
    assert m.keys.list() == [OTHER.strip()]
