"""Malicious archives, each signed with the trusted key (the signature is no defence here):
deflate bombs, lying sizes, traversal names, writes past the device end, negative and
overlapping offsets, duplicate entries, absurd meta.conf nesting. Each must end in a clear
``FwupError`` (or, where fwup defines the behaviour, do exactly that) and never write outside
the ranges the task names nor create files."""

import hashlib
import io
import os
import zipfile
import zlib

import pytest
from doubles.powercut import RamDevice
from nerves_hub_link.errors import BlockDeviceError, FwupError, NervesHubError
from nerves_hub_link.fwup.applier import Applier
from nerves_hub_link.fwup.create import generate_keys
from nerves_hub_link.fwup.keygen import sign

PUB, PRIV = generate_keys(b"\x11" * 32)
BLOCKS = 256  # a 128 KiB device
REFUSED = (FwupError, BlockDeviceError)  # an archive error, or the device refusing the write


def b2(data):
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def meta(resources, task_body, extra=""):
    out = ['meta-product="evil"', 'meta-version="6.6.6"']
    for name, length, digest in resources:
        out.append('file-resource "%s" {\nlength=%d\nblake2b-256=%s\n}' % (name, length, digest))
    out.append('task "upgrade" {\n%s\n}' % task_body)
    return ("\n".join(out) + "\n" + extra).encode()


def archive(meta_conf, entries, method=zipfile.ZIP_DEFLATED):
    """A signed .fw: signature, meta.conf, then *entries* [(name, bytes)] in order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("meta.conf.ed25519"), sign(PRIV, meta_conf))
        z.writestr(zipfile.ZipInfo("meta.conf"), meta_conf, zipfile.ZIP_DEFLATED)
        for name, data in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            z.writestr(info, data)
    return buf.getvalue()


def run(fw, dev=None, chunk=4096):
    """Apply *fw*; return (exception or None, device before, device after, bytes fed)."""
    dev = dev or RamDevice(bytes([0xA5]) * (BLOCKS * 512))
    before = bytes(dev.data)
    a = Applier(dev, "upgrade", public_keys=[PUB])
    fed = 0
    try:
        for i in range(0, len(fw), chunk):
            a.feed(fw[i:i + chunk])
            fed = i + chunk
        a.finish()
        err = None
    except NervesHubError as e:
        err = e
    return err, before, bytes(dev.data), fed


def changed_ranges(before, after):
    return [i for i in range(0, len(before), 512) if before[i:i + 512] != after[i:i + 512]]


def test_deflate_bomb_stops_at_the_declared_length():
    # meta.conf promises 4 KiB; the entry inflates to 256 MiB of zeros (~250 KiB compressed)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = comp.compress(bytes(1 << 20) * 256) + comp.flush()
    m = meta([("rootfs.img", 4096, b2(bytes(4096)))],
             'on-resource "rootfs.img" { funlist={2,raw_write,8} }')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("meta.conf.ed25519"), sign(PRIV, m))
        z.writestr(zipfile.ZipInfo("meta.conf"), m)
    head = buf.getvalue()
    # hand-made local header (deflate, sizes in the header) around the pre-compressed stream
    name = b"data/rootfs.img"
    local = (b"PK\x03\x04" + (20).to_bytes(2, "little") + bytes(2) + (8).to_bytes(2, "little")
             + bytes(4) + (zlib.crc32(bytes(1 << 20) * 256) & 0xFFFFFFFF).to_bytes(4, "little")
             + len(raw).to_bytes(4, "little") + (4096).to_bytes(4, "little")
             + len(name).to_bytes(2, "little") + bytes(2) + name)
    cd = head.index(b"PK\x01\x02")
    fw = head[:cd] + local + raw
    err, before, after, fed = run(fw)
    assert isinstance(err, REFUSED), err
    assert "rootfs.img" in str(err) or "size" in str(err), str(err)
    assert fed < cd + 64 * 1024, "kept inflating the bomb: fed %d of %d bytes" % (fed, len(fw))
    assert after == before


def test_huge_declared_length_is_refused_before_writing():
    m = meta([("rootfs.img", 1 << 40, b2(b""))], 'on-resource "rootfs.img" { funlist={2,raw_write,0} }')
    err, before, after, _ = run(archive(m, [("data/rootfs.img", b"x" * 1000)]))
    assert isinstance(err, REFUSED), err
    assert after == before


@pytest.mark.parametrize("name", ["data/../../../tmp/evil", "/etc/evil", "../evil",
                                  "data/a/../../evil", "data//evil"])
def test_traversal_names_write_no_file(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = b"pwned" * 100
    rname = name[5:] if name.startswith("data/") else "/" + name
    m = meta([(rname, len(payload), b2(payload))],
             'on-resource "%s" { funlist={2,raw_write,0} }' % rname)
    err, before, after, _ = run(archive(m, [(name, payload)]))
    assert os.listdir(tmp_path) == []
    assert not os.path.exists("/tmp/evil") and not os.path.exists("/etc/evil")
    # raw_write of a declared resource may land at block 0 (that is what it says); nothing else
    if err is None:
        assert after[:len(payload)] == payload and after[1024:] == before[1024:]
    else:
        assert isinstance(err, REFUSED), err
        assert after == before


def test_path_write_traversal_is_refused_without_unsafe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = b"pwned"
    m = meta([("x", len(payload), b2(payload))],
             'on-resource "x" { funlist={2,path_write,"../../evil"} }')
    err, before, after, _ = run(archive(m, [("data/x", payload)]))
    assert isinstance(err, REFUSED), err
    assert os.listdir(tmp_path) == [] and not os.path.exists(tmp_path.parent / "evil")
    assert after == before


@pytest.mark.parametrize("block", [BLOCKS - 1, BLOCKS, 1 << 40])
def test_write_past_device_end(block):
    payload = os.urandom(2048)
    m = meta([("r", len(payload), b2(payload))], 'on-resource "r" { funlist={2,raw_write,%d} }'
             % block)
    err, before, after, _ = run(archive(m, [("data/r", payload)]))
    assert isinstance(err, REFUSED), err
    assert "past end" in str(err) or "range" in str(err), str(err)
    assert after == before


@pytest.mark.parametrize("off", ["-1", "-2147483648", "-0x10"])
def test_negative_offsets_are_refused(off):
    payload = b"z" * 512
    m = meta([("r", len(payload), b2(payload))], 'on-resource "r" { funlist={2,raw_write,%s} }'
             % off)
    err, before, after, _ = run(archive(m, [("data/r", payload)]))
    assert isinstance(err, REFUSED), err
    assert "out of range" in str(err), str(err)
    assert after == before


@pytest.mark.parametrize("off,block", [("twelve", 0), ("1e3", 1), ("0x-1", 0), ("010", 8)])
def test_odd_offsets_parse_like_strtoull(off, block):
    # fwup's applier reads offsets with strtoull(s, NULL, 0) and stops at the first bad
    # character (spec: "the applier does not validate"); the write lands there and only there
    payload = os.urandom(512)
    m = meta([("r", len(payload), b2(payload))], 'on-resource "r" { funlist={2,raw_write,%s} }'
             % off)
    err, before, after, _ = run(archive(m, [("data/r", payload)]))
    assert err is None, err
    assert changed_ranges(before, after) == [block * 512]


def test_overlapping_writes_follow_fwup_last_one_wins():
    # overlap is legal fwup (resources in archive order): the later resource's bytes win and
    # nothing outside the two ranges changes
    one, two = os.urandom(4096), os.urandom(4096)
    m = meta([("one", 4096, b2(one)), ("two", 4096, b2(two))],
             'on-resource "one" { funlist={2,raw_write,10} }\n'
             'on-resource "two" { funlist={2,raw_write,14} }')
    err, before, after, _ = run(archive(m, [("data/one", one), ("data/two", two)]))
    assert err is None, err
    assert after[10 * 512:14 * 512] == one[:2048] and after[14 * 512:22 * 512] == two
    assert after[:10 * 512] == before[:10 * 512] and after[22 * 512:] == before[22 * 512:]


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
def test_duplicate_entries():
    good = os.urandom(1024)
    evil = os.urandom(1024)
    m = meta([("r", 1024, b2(good))], 'on-resource "r" { funlist={2,raw_write,4} }')
    err, before, after, _ = run(archive(m, [("data/r", good), ("data/r", evil)]))
    # the second copy cannot match the signed hash: never lands
    assert isinstance(err, REFUSED), err
    assert after[4 * 512:6 * 512] != evil


def test_lying_entry_size_is_refused():
    data = os.urandom(3000)
    m = meta([("r", 1000, b2(data[:1000]))], 'on-resource "r" { funlist={2,raw_write,4} }')
    err, before, after, _ = run(archive(m, [("data/r", data)]))
    assert isinstance(err, REFUSED), err
    assert after == before


@pytest.mark.parametrize("depth", [200, 5000, 100000])
def test_absurdly_nested_meta_conf(depth):
    # regression: 5000 nested sections (20 kB, under the 50 kB limit) raised RecursionError
    body = "on-init {" * depth + "}" * depth
    m = meta([], 'on-resource "r" { funlist={2,raw_write,4} }', extra="x {" * depth + "}" * depth)
    for conf in (m, meta([], body)):
        err, before, after, _ = run(archive(conf, []))
        assert isinstance(err, REFUSED), err
        assert "meta.conf" in str(err), err
        assert after == before


def test_many_tiny_sections_stay_bounded():
    m = meta([("r%d" % i, 0, b2(b"")) for i in range(5000)], "")
    err, before, after, _ = run(archive(m, []))
    # 5000 resources push meta.conf past fwup's 50 000-byte limit
    assert isinstance(err, REFUSED), err
    assert after == before
