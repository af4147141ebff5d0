# heapsize: 256K
import binascii
import struct

from nerves_hub_link.errors import FwupError
from nerves_hub_link.fwup import uboot_env
from support import fixture, raises, read


def test_round_trip_sorted_and_padded():
    img = uboot_env.encode({"b": "2", "a": "1=x"}, 64)
    assert img[4:15] == b"a=1=x\x00b=2\x00\x00"
    assert img[15:] == b"\xff" * 49
    assert struct.unpack("<I", img[:4])[0] == binascii.crc32(img[4:]) & 0xFFFFFFFF
    assert uboot_env.decode(img) == {"a": "1=x", "b": "2"}
    assert uboot_env.decode(img, raw=True) == {b"a": b"1=x", b"b": b"2"}


def test_empty_env_is_one_nul():
    img = uboot_env.encode({}, 32, redundant=True, flags=7)
    assert img[4] == 7 and img[5] == 0 and img[6:] == b"\xff" * 26
    assert uboot_env.decode(img, True) == {}


def test_crc_mismatch_text():
    img = bytearray(uboot_env.encode({"a": "1"}, 64))
    img[0:4] = b"\x00\x00\x00\x00"
    e = raises(FwupError, uboot_env.decode, img, False, 32)
    got = binascii.crc32(img[4:]) & 0xFFFFFFFF
    assert str(e) == ("U-boot environment (block 32) CRC32 mismatch (expected 0x00000000; "
                      "got 0x%08x)" % got)


def test_overflow():
    e = raises(FwupError, uboot_env.encode, {"big": "x" * 600}, 512)
    assert str(e) == "Not enough room in U-boot environment"
    uboot_env.encode({"k": "x" * 500}, 512)


def test_invalid_pairs():
    body = b"noequals\x00\x00" + b"\xff" * 20
    img = struct.pack("<I", binascii.crc32(body) & 0xFFFFFFFF) + body
    e = raises(FwupError, uboot_env.decode, img)
    assert str(e) == "Invalid U-boot environment"


def test_fixture_env_image():
    img = read(fixture("fwup", "F05_uboot_env_ops", "inputs", "env.img"))
    env = uboot_env.decode(img)
    assert env["var3"] == "A string with ="


def test_redundant_copy_choice():
    a = uboot_env.encode({"v": "1"}, 64, True, 1)
    b = uboot_env.encode({"v": "2"}, 64, True, 2)
    env, flags, wp, wr = uboot_env.choose(a, b)
    assert (env, flags, wp, wr) == ({b"v": b"2"}, 2, True, False)
    env, flags, wp, wr = uboot_env.choose(b, a)  # delta 255: primary first
    assert (env, flags, wp, wr) == ({b"v": b"2"}, 2, False, True)
    bad = bytearray(b)
    bad[10] ^= 1
    env, flags, wp, wr = uboot_env.choose(a, bad)
    assert (env, flags, wp, wr) == ({b"v": b"1"}, 1, False, True)
    raises(FwupError, uboot_env.choose, bad, bad)
