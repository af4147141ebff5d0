# heapsize: 2M
# The apply engine on a RamBlockDevice: archives are built here as stored ZIP entries (so
# the same bytes work on both interpreters) and signed with the fixtures' test key.
import binascii
import struct

from nerves_hub_link.errors import ArchiveError, BlockDeviceError, FwupError, SignatureError
from nerves_hub_link.fwup import keygen, keys, uboot_env
from nerves_hub_link.fwup.applier import Applier
from support import RamBlockDevice, fixture, raises

KEYDIR = ("fwup", "keys")


def _hex(b):
    return "".join("%02x" % x for x in b)


def blake(data):
    from nerves_hub_link.crypto import hashes

    h = hashes.blake2b_256()
    h.update(data)
    return _hex(h.digest())


def sha256hex(data):
    from nerves_hub_link.crypto import hashes

    h = hashes.sha256()
    h.update(data)
    return _hex(h.digest())


def zip_stored(entries):
    """A ZIP of stored entries (sizes and CRC in the local headers), with a central dir."""
    out = bytearray()
    cd = bytearray()
    for name, data in entries:
        nb = name.encode()
        crc = binascii.crc32(data) & 0xFFFFFFFF
        off = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 10, 0, 0, 0, 0x21, crc, len(data),
                           len(data), len(nb), 0) + nb + data
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x30A, 10, 0, 0, 0, 0x21, crc,
                          len(data), len(data), len(nb), 0, 0, 0, 0, 0, off) + nb
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd),
                      len(out), 0)
    return bytes(out + cd + end)


def priv_seed():
    return keygen.read_key_file(fixture(*(KEYDIR + ("fwup-key.priv",))), 64)[:32]


def pub(name="fwup-key.pub"):
    return keys.read_public_file(fixture(*(KEYDIR + (name,))))


def archive(meta, resources, sign=True, tamper=None):
    from nerves_hub_link.crypto import ed25519

    meta = meta.encode()
    entries = []
    if sign:
        entries.append(("meta.conf.ed25519", ed25519.sign(priv_seed(), meta)))
    entries.append(("meta.conf", tamper(meta) if tamper else meta))
    for name, data in resources:
        entries.append(("data/" + name, data))
    return zip_stored(entries)


def apply(dev, fw, task="complete", keys_=None, piece=4096, **kw):
    events = []
    app = Applier(dev, task, public_keys=keys_ if keys_ is not None else [pub()],
                  events=lambda t, c, m: events.append((t, c, m)), **kw)
    for i in range(0, len(fw), piece):
        app.feed(fw[i:i + piece])
        if app.done:
            break
    app.finish()
    return app, events


def res_conf(name, data, sha=False):
    h = ('sha256="%s"\n' % sha256hex(data)) if sha else ""
    return 'file-resource "%s" {\nlength=%d\nblake2b-256=%s\n%s}\n' % (name, len(data),
                                                                       blake(data), h)


DATA = bytes((i * 7 + 3) & 0xFF for i in range(3000))


def simple_meta(offset=2, sha=False, extra=""):
    return (res_conf("a.bin", DATA, sha) +
            'task "complete" {\n%son-resource "a.bin" {\nfunlist={2,raw_write,%s}\n}\n}\n'
            % (extra, offset))


def test_raw_write_pads_last_block_and_verifies_blake2b():
    dev = RamBlockDevice(64, fill=0x5A)
    app, ev = apply(dev, archive(simple_meta(), [("a.bin", DATA)]))
    assert dev.data[1024:1024 + 3000] == DATA
    assert dev.data[4024:4096] == bytes(72)  # rest of the last block zero-filled
    assert dev.data[:1024] == b"\x5a" * 1024 and dev.data[4096:4200] == b"\x5a" * 104
    assert app.hashes_used == {"blake2b": 1}
    pr = [c for t, c, m in ev if t == "PR"]
    assert pr[0] == 0 and pr[-1] == 100 and pr == sorted(pr)


def test_sha256_used_instead_of_blake2b_when_present():
    dev = RamBlockDevice(64)
    app, _ = apply(dev, archive(simple_meta(sha=True), [("a.bin", DATA)]))
    assert app.hashes_used == {"sha256": 1}
    assert dev.data[1024:4024] == DATA


def test_sha256_mismatch_is_caught():
    bad = bytearray(DATA)
    bad[100] ^= 1
    meta = simple_meta(sha=True)
    dev = RamBlockDevice(64)
    e = raises(SignatureError, apply, dev, archive(meta, [("a.bin", bytes(bad))]))
    assert "sha256 mismatch on 'a.bin'" in str(e)


def test_one_byte_pieces_give_the_same_image():
    fw = archive(simple_meta(), [("a.bin", DATA)])
    d1 = RamBlockDevice(64)
    d2 = RamBlockDevice(64)
    apply(d1, fw, piece=1)
    apply(d2, fw, piece=65536)
    assert d1.data == d2.data


def test_wrong_key_unsigned_and_tampered_fail_before_writing():
    fw = archive(simple_meta(), [("a.bin", DATA)])
    dev = RamBlockDevice(64, fill=1)
    e = raises(SignatureError, apply, dev, fw, keys_=[pub("other-key.pub")])
    assert "fails digital signature verification" in str(e)
    e = raises(SignatureError, apply, dev, archive(simple_meta(), [("a.bin", DATA)], False))
    assert str(e) == "Expecting signed firmware archive."
    t = archive(simple_meta(), [("a.bin", DATA)], tamper=lambda m: m.replace(b",2}", b",3}"))
    raises(SignatureError, apply, dev, t)
    assert dev.data == bytearray(b"\x01" * len(dev.data)) and dev.writes == 0


def test_several_keys_any_one_matches():
    dev = RamBlockDevice(64)
    apply(dev, archive(simple_meta(), [("a.bin", DATA)]), keys_=[pub("other-key.pub"), pub()])
    assert dev.data[1024:4024] == DATA


def test_write_past_end_of_fixed_device_is_refused():
    dev = RamBlockDevice(4)  # 2048 bytes: a.bin at block 2 does not fit
    e = raises(BlockDeviceError, apply, dev, archive(simple_meta(), [("a.bin", DATA)]))
    assert "past end of media (2048)" in str(e)
    assert dev.data == bytearray(2048)


def test_negative_and_huge_offsets_are_refused():
    for off in ("-1", "0x4000000000000000"):
        dev = RamBlockDevice(64)
        e = raises(BlockDeviceError, apply, dev, archive(simple_meta(off), [("a.bin", DATA)]))
        assert "out of range" in str(e)
        assert dev.writes == 0


def test_unsupported_actions_fail_before_anything_is_written():
    extra = 'on-init {\nfunlist={4,raw_memset,0,1,0xaa}\n}\non-finish {\nfunlist={3,fat_mkfs,0,8}\n}\n'
    dev = RamBlockDevice(64)
    e = raises(FwupError, apply, dev, archive(simple_meta(extra=extra), [("a.bin", DATA)]))
    assert "FAT is not supported" in str(e)
    assert dev.writes == 0
    extra = 'on-finish {\nfunlist={2,execute,"reboot"}\n}\n'
    e = raises(FwupError, apply, dev, archive(simple_meta(extra=extra), [("a.bin", DATA)]))
    assert "execute is not supported" in str(e)
    assert dev.writes == 0


def test_require_fat_file_exists_says_fat_is_unsupported():
    extra = 'reqlist={3,"require-fat-file-exists",0,"x.txt"}\n'
    e = raises(FwupError, apply, RamBlockDevice(64),
               archive(simple_meta(extra=extra), [("a.bin", DATA)]))
    assert "FAT is not supported" in str(e)


AB = """uboot-environment "env" {
block-offset=2
block-count=2
block-offset-redund=4
}
%s
task "complete" {
on-init {
funlist={2,uboot_clearenv,env,4,uboot_setenv,env,active,a}
}
on-resource "rootfs" {
funlist={2,raw_write,16}
}
}
task "upgrade.a" {
reqlist={4,"require-uboot-variable",env,active,b}
on-resource "rootfs" {
funlist={2,raw_write,16}
}
on-finish {
funlist={4,uboot_setenv,env,active,a}
}
}
task "upgrade.b" {
reqlist={4,"require-uboot-variable",env,active,a}
on-resource "rootfs" {
funlist={2,raw_write,32}
}
on-finish {
funlist={4,uboot_setenv,env,active,b}
}
}
"""


def test_ab_upgrade_switches_slots_via_uboot_env():
    a = bytes(range(256)) * 20
    dev = RamBlockDevice(64)
    apply(dev, archive(AB % res_conf("rootfs", a), [("rootfs", a)]))
    env, flags, _, _ = uboot_env.choose(dev.data[1024:2048], dev.data[2048:3072])
    assert env == {b"active": b"a"}
    b = bytes(reversed(a))
    apply(dev, archive(AB % res_conf("rootfs", b), [("rootfs", b)]), task="upgrade")
    env = uboot_env.choose(dev.data[1024:2048], dev.data[2048:3072])[0]
    assert env == {b"active": b"b"}
    assert dev.data[32 * 512:32 * 512 + len(b)] == b
    assert dev.data[16 * 512:16 * 512 + len(a)] == a


def test_failed_ab_upgrade_leaves_env_and_running_slot_identical():
    a = bytes(range(256)) * 20
    dev = RamBlockDevice(64)
    apply(dev, archive(AB % res_conf("rootfs", a), [("rootfs", a)]))
    before = bytes(dev.data)
    good = bytes(reversed(a))
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # same size, wrong BLAKE2b
    fw = archive(AB % res_conf("rootfs", good), [("rootfs", bytes(bad))])
    e = raises(SignatureError, apply, dev, fw, task="upgrade")
    assert "blake2b mismatch on 'rootfs'" in str(e)
    assert bytes(dev.data[1024:3072]) == before[1024:3072]  # U-Boot env, both copies
    assert bytes(dev.data[16 * 512:32 * 512]) == before[16 * 512:32 * 512]  # running slot A
    # the unverified bytes never reached the inactive slot either (fwup's cache dropped them)
    assert bytes(dev.data) == before


def test_uboot_setenv_and_info_events():
    meta = ('uboot-environment "e" {\nblock-offset=0\nblock-count=1\n}\n'
            'task "complete" {\non-init {\nfunlist={2,uboot_clearenv,e,4,uboot_setenv,e,k,"${V}",'
            '2,info,"hello ${V}"}\n}\n}\n')
    dev = RamBlockDevice(8)
    _, ev = apply(dev, archive(meta, []), env={"V": "x y"})
    assert ("WN", 0, "hello x y") in ev
    assert uboot_env.decode(dev.data[:512], False) == {"k": "x y"}


def test_missing_resource_and_no_task_errors():
    meta = simple_meta()
    e = raises(FwupError, apply, RamBlockDevice(64), archive(meta, []))
    assert str(e) == "Resource a.bin not found in archive"
    e = raises(FwupError, apply, RamBlockDevice(64), archive(meta, [("a.bin", DATA)]),
               task="nope")
    assert str(e).startswith("Couldn't find applicable task 'nope'.")


class GrowingDevice:
    """A growable output (like ``FileBlockDevice``) in RAM: reads past the end give zeros."""

    growable = True

    def __init__(self):
        self.data = bytearray()

    def size(self):
        return len(self.data)

    def pread(self, off, n):
        out = bytearray(n)  # what FileBlockDevice allocates for a read
        part = self.data[off:off + n]
        out[:len(part)] = part
        return out

    def pwrite(self, off, data):
        if off > len(self.data):
            self.data.extend(bytes(off - len(self.data)))
        self.data[off:off + len(data)] = data

    def truncate(self, n):
        del self.data[n:]

    def ioctl(self, op, arg):
        return 0


def test_uboot_env_block_count_is_checked_before_it_sizes_a_buffer():
    def fw(count):
        meta = AB.replace("block-count=2", "block-count=" + count) % res_conf("rootfs", DATA)
        return archive(meta, [("rootfs", DATA)])

    # 2**50 blocks would be a 512 PiB read buffer on a growable output: the requirement
    # cannot be read, so no task applies
    e = raises(FwupError, apply, GrowingDevice(), fw("0x4000000000000"), task="upgrade")
    assert "Couldn't find applicable task 'upgrade'" in str(e), str(e)
    for count in ("0x4000000000000", "0", "65535"):
        dev = GrowingDevice()
        e = raises(ArchiveError, apply, dev, fw(count))
        assert e.message == ("uboot-environment 'env': block-count %d is out of range (1..65534)"
                             % int(count, 0)), str(e)
        assert dev.data == bytearray()


def test_meta_conf_errors_after_reading_it_keep_their_text():
    # only a meta.conf entry that cannot be read is "Unexpected meta.conf size: 0" (spec 8.4)
    for meta, text in (("this is { not meta.conf (((", "Unexpected error parsing meta.conf"),
                       (simple_meta() + 'require-fwup-version="99.0.0"\n',
                        "Unexpected error parsing meta.conf"),
                       ("# short\n", "Unexpected meta.conf size: 8")):
        e = raises(ArchiveError, apply, RamBlockDevice(64), archive(meta, [("a.bin", DATA)]))
        assert e.message == text, str(e)


def test_meta_conf_mistakes_are_archive_errors():
    bad_hash = simple_meta().replace("blake2b-256=%s" % blake(DATA), "blake2b-256=zz")
    unknown = simple_meta(extra="on-init {\nfunlist={2,nosuch,1}\n}\n")
    args = simple_meta(extra="on-init {\nfunlist={2,trim,0}\n}\n")
    for meta, text in ((bad_hash, "invalid blake2b hash for 'a.bin'"),
                       (unknown, "Unknown function 'nosuch' in task 'complete'"),
                       (args, "trim: wrong number of arguments (1) in task 'complete'")):
        dev = RamBlockDevice(64)
        e = raises(ArchiveError, apply, dev, archive(meta, [("a.bin", DATA)]))
        assert e.message == text, str(e)
        assert dev.writes == 0


class FailingSyncDevice(RamBlockDevice):
    """Writes are taken, but the final sync reports an I/O error (a full disk, a dead card)."""

    def ioctl(self, op, arg):
        if op == 3:
            raise OSError(5)
        return RamBlockDevice.ioctl(self, op, arg)


def test_a_failed_sync_fails_the_apply():
    e = raises(BlockDeviceError, apply, FailingSyncDevice(64),
               archive(simple_meta(), [("a.bin", DATA)]))
    assert "sync failed" in str(e), str(e)


def test_verify_and_apply_agree_on_a_malformed_sha256():
    meta = simple_meta(sha=True).replace('sha256="%s"' % sha256hex(DATA), 'sha256="zz"')
    fw = archive(meta, [("a.bin", DATA)])
    for mode, dev in (("apply", RamBlockDevice(64)), ("verify", None)):
        e = raises(ArchiveError, apply, dev, fw, mode=mode)
        assert e.message == "invalid sha256 hash for 'a.bin'", (mode, str(e))
