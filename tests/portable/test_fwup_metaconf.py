# heapsize: 512K
from nerves_hub_link.errors import ArchiveError
from nerves_hub_link.fwup import metaconf
from support import fixture, raises, read

VECTOR = (b'meta-product="product name"\nmeta-description="product description"\n'
          b'meta-version="some version"\nmeta-author=someone\nmeta-platform="a platform"\n'
          b'meta-architecture="an architecture"\n')


def test_uuid_nickname_and_date_vectors():
    assert metaconf.uuid_and_nickname(VECTOR) == ("53233641-82a4-5576-b75d-d227a234c626",
                                                  "energy-bid")
    assert metaconf.format_time(1525543816) == "2018-05-05T18:10:16Z"
    assert metaconf.format_dos_time((0x576E << 16) | 0xB1AA) == "2023-11-14T22:13:20Z"
    assert metaconf.word(0) == "act" and metaconf.word(255) == "zoo"
    assert metaconf.word(254) == "weather"


def test_fixture_metadata_and_tasks():
    for name in ("F01_raw_write_basic", "F03_ab_upgrade_uboot_redundant", "F05_uboot_env_ops",
                 "F07_multi_resource", "N_negative"):
        mc = metaconf.load(read(fixture("fwup", name, "meta.conf")), mtime=1700000000)
        assert metaconf.metadata_text(mc) == read(fixture("fwup", name, "metadata.txt")).decode()
        assert "\n".join(mc.task_names()) + "\n" == read(fixture("fwup", name, "tasks.txt")).decode()


def test_model_of_f07():
    mc = metaconf.load(read(fixture("fwup", "F07_multi_resource", "meta.conf")))
    sp = mc.resources["sparse.img"]
    assert sp.runs == [4096, 61440, 4096, 130368] and sp.data_size == 8192 and sp.sparse
    assert mc.resources["empty.bin"].runs == [0]
    t = mc.tasks[0]
    assert t.name == "complete" and t.events["on-init"] == [("info", ["init"])]
    assert [n for n, _ in t.on_resource][:2] == ["last.bin", "sparse.img"]
    assert t.handler("first.bin") == [("raw_write", ["0"])]


def test_apply_time_expansion_and_uuid_variables():
    mc = metaconf.load(read(fixture("fwup", "F03_ab_upgrade_uboot_redundant", "meta.conf")),
                       env={"FWUP_META_UUID": "ignored"})
    args = mc.tasks[2].events["on-finish"][1][1]
    assert args == ["uboot-env", "b.uuid", mc.uuid]
    mc = metaconf.load(read(fixture("fwup", "F05_uboot_env_ops", "meta.conf")),
                       env=lambda n: "v!" if n == "FIX_APPLY_VAR" else None)
    assert mc.tasks[0].events["on-finish"][-1][1][-1] == "v!"


def test_tampering_and_parse_errors():
    e = raises(ArchiveError, metaconf.load, b'meta-uuid="x"\nmeta-product=p\n')
    assert "isn't allowed to change" in e.message
    e = raises(ArchiveError, metaconf.load, b'define!(FWUP_META_UUID, "x")\nmeta-product=p\n')
    assert "isn't allowed to change" in e.message
    e = raises(ArchiveError, metaconf.load, b'meta-product="unterminated\n')
    assert e.message == "Unexpected error parsing meta.conf"
    e = raises(ArchiveError, metaconf.load, b'require-fwup-version="99.0.0"\n')
    assert e.message == "Unexpected error parsing meta.conf"
    metaconf.load(b'require-fwup-version="1.16.0"\nunknown-key=1\n')


def test_quote():
    assert metaconf.quote("abc_1.2") == "abc_1.2"
    assert metaconf.quote("a-b") == '"a-b"'
    assert metaconf.quote('q"\\') == '"q\\"\\\\"'
    assert metaconf.quote("") == '""'
