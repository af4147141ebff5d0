# heapsize: 512K
from nerves_hub_link.errors import ArchiveError
from nerves_hub_link.fwup.zipstream import ZipStream
from support import fixture, raises, read


class Log:
    def __init__(self, read_all=True, skip=()):
        self.read_all = read_all
        self.skip = skip
        self.events = []
        self.sizes = {}

    def on_entry(self, e):
        self.events.append(("E", e.name, e.method))
        self.sizes[e.name] = 0
        return self.read_all and e.name not in self.skip

    def on_data(self, e, chunk):
        self.sizes[e.name] += len(chunk)

    def on_entry_end(self, e):
        self.events.append(("X", e.name, self.sizes[e.name]))

    def on_end(self, err):
        self.events.append(("END", None if err is None else err.message))


def run(path, piece=16384, **kw):
    data = read(fixture(*path))
    log = Log(**kw)
    z = ZipStream(log)
    for i in range(0, len(data), piece):
        z.feed(data[i:i + piece])
    z.finish()
    return log


F01 = ("fwup", "F01_raw_write_basic", "signed.fw")


def test_entries_in_order_with_sizes():
    log = run(F01)
    assert log.events == [
        ("E", "meta.conf.ed25519", 0), ("X", "meta.conf.ed25519", 64),
        ("E", "meta.conf", 8), ("X", "meta.conf", 660),
        ("E", "data/a.bin", 8), ("X", "data/a.bin", 1000),
        ("E", "data/b.bin", 8), ("X", "data/b.bin", 8192),
        ("E", "data/c.bin", 8), ("X", "data/c.bin", 70000), ("END", None)]


def test_piece_size_does_not_matter():
    a = run(F01, piece=1).events
    b = run(F01, piece=333).events
    c = run(F01, piece=1 << 20).events
    assert a == b == c


def test_skipped_entries_are_not_delivered():
    log = run(F01, skip=("data/b.bin",))
    assert ("X", "data/b.bin", 8192) not in log.events and log.sizes["data/b.bin"] == 0
    assert log.events[-1] == ("END", None)


def test_stored_entries_without_descriptor():
    log = run(("fwup", "N_negative", "repacked_pyzip.fw"))
    assert ("E", "data/b.bin", 0) in log.events and ("X", "data/b.bin", 3000) in log.events


def test_crc_error_names_both_values():
    e = raises(ArchiveError, run, ("fwup", "N_negative", "corrupt_data_byte.fw"))
    assert e.message == "ZIP bad CRC: 0x375557e5 should be 0xe81f7fd3"


def test_truncations():
    e = raises(ArchiveError, run, ("fwup", "N_negative", "truncated_mid_a.fw"))
    assert e.message == "ZIP decompression failed (-5)"
    e = raises(ArchiveError, run, ("fwup", "N_negative", "truncated_before_central_dir.fw"))
    assert e.message == "Truncated ZIP end-of-file record"
    assert run(("fwup", "N_negative", "truncated_24_into_central_dir.fw")).events[-1] == (
        "END", None)


def test_truncated_skipped_entry_just_ends_the_loop():
    log = run(("fwup", "N_negative", "truncated_in_b.fw"), skip=("data/b.bin",))
    assert log.events[-1] == ("END", "ZIP decompression failed (-5)")


def test_not_a_zip():
    e = raises(ArchiveError, run, ("fwup", "N_negative", "not_a_zip.fw"))
    assert e.message == "Unrecognized archive format"


def test_deflate_bomb_is_bounded_by_limit():
    class Limit(Log):
        def on_entry(self, e):
            e.limit = 100
            return super().on_entry(e)

    data = read(fixture(*F01))
    z = ZipStream(Limit())
    e = raises(ArchiveError, z.feed, data)
    assert "inflates to more than 100 bytes" in e.message
