"""Shared pieces of the survival tests: A/B releases made with our ``create_archive``, an
apply helper, and an independent "bootloader" that reads the redundant U-Boot environment the
way U-Boot's ``env_import_redund`` does (CRC-32 of each copy, then the flag byte)."""

import hashlib
import os
import random
import struct
import zlib

from nerves_hub_link.fwup.applier import Applier
from nerves_hub_link.fwup.create import create_archive, generate_keys

BLOCK = 512
ENV_A, ENV_B, ENV_BLOCKS = 16, 32, 16
SLOT = {"a": 64, "b": 2048}  # block offsets of the two rootfs slots
DEVICE_BLOCKS = 4096

# Like tests/fixtures/fwup/F03 (redundant env, A/B tasks) but the active flag is set last and
# the slots are far enough apart for multi-segment images.
CONF = """
meta-product = "survive"
meta-version = "${VERSION}"
uboot-environment uboot-env {
    block-offset = %(env_a)d
    block-count = %(env_blocks)d
    block-offset-redund = %(env_b)d
}
file-resource rootfs.img { host-path = "rootfs-${VERSION}.img" }
task complete {
    on-init {
        uboot_clearenv(uboot-env)
    }
    on-resource rootfs.img { raw_write(%(a)d) }
    on-finish {
        uboot_setenv(uboot-env, "a.version", "${VERSION}")
        uboot_setenv(uboot-env, "active", "a")
    }
}
task upgrade.a {
    require-uboot-variable(uboot-env, "active", "b")
    on-resource rootfs.img { raw_write(%(a)d) }
    on-finish {
        uboot_setenv(uboot-env, "a.version", "${VERSION}")
        uboot_setenv(uboot-env, "active", "a")
    }
}
task upgrade.b {
    require-uboot-variable(uboot-env, "active", "a")
    on-resource rootfs.img { raw_write(%(b)d) }
    on-finish {
        uboot_setenv(uboot-env, "b.version", "${VERSION}")
        uboot_setenv(uboot-env, "active", "b")
    }
}
""" % {"env_a": ENV_A, "env_b": ENV_B, "env_blocks": ENV_BLOCKS, "a": SLOT["a"], "b": SLOT["b"]}


class Bricked(AssertionError):
    pass


def rootfs(version, size):
    """Random (incompressible) rootfs bytes with a compressible tail, seeded by version."""
    rnd = random.Random(version)
    half = size // 2
    text = (b"rootfs %s line\n" % version.encode()) * (size // 16 + 1)
    return bytes(rnd.getrandbits(8) for _ in range(half)) + text[:size - half]


class Releases:
    """Key pair plus ``.fw`` files for several versions of one rootfs size."""

    def __init__(self, directory, size, versions=("1.0.0", "2.0.0", "3.0.0")):
        self.dir = directory
        self.pub, priv = generate_keys(b"\x07" * 32)
        conf = os.path.join(directory, "fwup.conf")
        with open(conf, "w") as f:
            f.write(CONF)
        self.rootfs = {}
        self.fw = {}
        for v in versions:
            data = rootfs(v, size)
            with open(os.path.join(directory, "rootfs-%s.img" % v), "wb") as f:
                f.write(data)
            out = os.path.join(directory, "%s.fw" % v)
            env = dict(os.environ, VERSION=v, SOURCE_DATE_EPOCH="1700000000")
            create_archive(conf, out, private_key=priv, env=env)
            self.rootfs[v] = data
            with open(out, "rb") as f:
                self.fw[v] = f.read()


def apply(dev, fw, task, pub, chunk=4096):
    """Apply archive bytes *fw* to *dev* (fed in *chunk*-byte pieces)."""
    a = Applier(dev, task, public_keys=[pub])
    for i in range(0, len(fw), chunk):
        a.feed(fw[i:i + chunk])
    a.finish()


def parse_env_copy(raw):
    """One redundant copy -> (flags, dict) or None when its CRC does not match."""
    (crc,) = struct.unpack("<I", raw[:4])
    if zlib.crc32(raw[5:]) & 0xFFFFFFFF != crc:
        return None
    pairs = {}
    for item in raw[5:].split(b"\x00"):
        if not item:
            break
        k, _, v = item.partition(b"=")
        pairs[k.decode()] = v.decode()
    return raw[4], pairs


def boot_env(image):
    """The environment U-Boot would load (env_import_redund rules); Bricked if none."""
    n = ENV_BLOCKS * BLOCK
    c1 = parse_env_copy(bytes(image[ENV_A * BLOCK:ENV_A * BLOCK + n]))
    c2 = parse_env_copy(bytes(image[ENV_B * BLOCK:ENV_B * BLOCK + n]))
    if c1 is None and c2 is None:
        raise Bricked("neither U-Boot environment copy has a valid CRC")
    if c2 is None:
        return c1[1]
    if c1 is None:
        return c2[1]
    f1, f2 = c1[0], c2[0]
    if f1 == 255 and f2 == 0:
        return c2[1]
    if f2 == 255 and f1 == 0:
        return c1[1]
    return c2[1] if f2 > f1 else c1[1]


def slot_digest(image, block, size):
    off = block * BLOCK
    return hashlib.sha256(bytes(image[off:off + size])).digest()


def reboot(image, old, new, slots=SLOT, meta_key="%s.version"):
    """Boot *image* after an interrupted upgrade ``old -> new`` (each ``(slot, version, bytes)``).

    Returns ``"old"``, ``"new"`` or ``"new, stale metadata"`` (new slot booted but its
    ``meta_key % slot`` variable still names another release); raises ``Bricked`` when the bootloader
    cannot load an environment, names no slot, or the slot it boots does not hold exactly the
    bytes of the release that belongs there.
    """
    env = boot_env(image)
    slot = env.get("active")
    for name, (s, version, data) in (("old", old), ("new", new)):
        if slot != s:
            continue
        if slot_digest(image, slots[slot], len(data)) != hashlib.sha256(data).digest():
            raise Bricked("slot %s boots as the %s release %s but its bytes do not match "
                          "(env %r)" % (slot, name, version, env))
        if env.get(meta_key % slot) != version:
            return name + ", stale metadata"
        return name
    raise Bricked("environment names no bootable slot: %r" % (env,))
