"""ATECC508A/608A commands used by NervesKey, and their execution-time tables.

Functions taking ``t`` run one command inside an open wake window (``Transport.execute``);
``read_zone``/``read_slot``/``sign_digest`` issue whole requests (wake ... Sleep, with
retries) in the order the Elixir driver uses. Largest buffer: a 416-byte slot image.
"""

from nerves_hub_link.errors import NervesKeyError

from .config_zone import CONFIG_SIZE, OTP_SIZE, SLOT_SIZES

OP_READ = 0x02
OP_WRITE = 0x12
OP_NONCE = 0x16
OP_LOCK = 0x17
OP_RANDOM = 0x1B
OP_INFO = 0x30
OP_GENKEY = 0x40
OP_SIGN = 0x41
OP_ECDH = 0x43
OP_VERIFY = 0x45
OP_SHA = 0x47

ZONE_CONFIG = 0
ZONE_OTP = 1
ZONE_DATA = 2
READ_32 = 0x80

NONCE_PASSTHROUGH = 0x03
NONCE_TARGET_MSGDIGEST = 0x40  # 608 only
SIGN_EXTERNAL = 0x80
SIGN_SOURCE_MSGDIGEST = 0x20  # 608 only
GENKEY_PUBLIC = 0x00

# opcode -> (typical ms, max ms). Typical: 508A datasheet; max: cryptoauthlib's tables.
TIMING_508A = {
    OP_INFO: (1, 2), OP_READ: (1, 5), OP_WRITE: (7, 26), OP_LOCK: (8, 32),
    OP_RANDOM: (1, 23), OP_NONCE: (1, 29), OP_GENKEY: (11, 115), OP_SIGN: (42, 60),
    OP_VERIFY: (38, 72), OP_SHA: (7, 9), OP_ECDH: (38, 58),
}
# ATECC608 at ChipMode clock divider M0 (what NervesKey configures).
TIMING_608_M0 = {
    OP_INFO: (1, 5), OP_READ: (1, 5), OP_WRITE: (7, 45), OP_LOCK: (8, 35),
    OP_RANDOM: (1, 23), OP_NONCE: (1, 20), OP_GENKEY: (11, 115), OP_SIGN: (42, 115),
    OP_VERIFY: (38, 105), OP_SHA: (7, 36), OP_ECDH: (38, 75),
}
# Slower clock dividers M1/M2 only lengthen the ECC and SHA commands.
_M1 = {OP_GENKEY: 215, OP_SIGN: 220, OP_VERIFY: 295, OP_SHA: 42, OP_ECDH: 172}
_M2 = {OP_GENKEY: 653, OP_SIGN: 665, OP_VERIFY: 1085, OP_SHA: 75, OP_ECDH: 531}


def _with_max(base, overrides):
    out = dict(base)
    for op, mx in overrides.items():
        out[op] = (out[op][0], mx)
    return out


TIMING_608_M1 = _with_max(TIMING_608_M0, _M1)
TIMING_608_M2 = _with_max(TIMING_608_M0, _M2)
# Before the chip type is known: the longest of every table.
TIMING_ANY = {}
for _op in TIMING_508A:
    TIMING_ANY[_op] = (TIMING_508A[_op][0],
                       max(TIMING_508A[_op][1], TIMING_608_M2[_op][1]))


def timing_for(config):
    """Execution-time table for a parsed ``ConfigZone``."""
    kind = config.revision[2]
    if kind == 0x50:
        return TIMING_508A
    if kind == 0x60:
        div = config.chip_mode >> 3
        if div == 0:
            return TIMING_608_M0
        if div == 0x05:
            return TIMING_608_M1
        return TIMING_608_M2
    return TIMING_ANY


def data_address(slot, block, word=0):
    """Param2 for a data-zone access (block << 8 | slot << 3 | word)."""
    return (block << 8) | (slot << 3) | word


# -- single commands (inside a wake window) --------------------------------------------
def info(t, mode=0, param=0):
    """Info; mode 0 returns the 4-byte revision (byte 2: 0x50 = 508A, 0x60 = 608)."""
    return t.execute(OP_INFO, mode, param, b"", 4, "Info(mode %d)" % mode)


def read(t, zone, address, size=32):
    """Read 4 or 32 bytes of ``zone`` at word ``address``."""
    if size not in (4, 32):
        raise NervesKeyError("Read size must be 4 or 32, got %r" % (size,))
    p1 = zone | (READ_32 if size == 32 else 0)
    return t.execute(OP_READ, p1, address, b"", size,
                     "Read(zone %d, addr 0x%04x, %d bytes)" % (zone, address, size))


def random(t, mode=0):
    """32 random bytes (FF FF 00 00 ... while the config zone is unlocked)."""
    return t.execute(OP_RANDOM, mode, 0, b"", 32, "Random")


def nonce_passthrough(t, num_in, target=0):
    """Load 32 bytes into TempKey (target 0) or, on a 608, the message-digest buffer."""
    if len(num_in) != 32:
        raise NervesKeyError("Nonce pass-through needs 32 bytes, got %d" % len(num_in))
    t.execute(OP_NONCE, NONCE_PASSTHROUGH | target, 0, num_in, 1, "Nonce(pass-through)")


def genkey_public(t, slot=0):
    """Public key X||Y (64 bytes) of the private key in ``slot``."""
    return t.execute(OP_GENKEY, GENKEY_PUBLIC, slot, b"", 64, "GenKey(public, slot %d)" % slot)


def sign_external(t, slot=0, source=0):
    """Sign the message in TempKey (source 0) with ``slot``'s key; raw R||S (64 bytes)."""
    return t.execute(OP_SIGN, SIGN_EXTERNAL | source, slot, b"", 64, "Sign(external, slot %d)"
                     % slot)


# -- whole requests ---------------------------------------------------------------------
def read_zone(t, zone):
    """Whole config (4 x 32) or OTP (2 x 32) zone, one request per block."""
    size = CONFIG_SIZE if zone == ZONE_CONFIG else OTP_SIZE
    out = bytearray(size)
    for blk in range(size // 32):
        out[blk * 32:blk * 32 + 32] = t.request(lambda tr, a=blk * 8: read(tr, zone, a, 32))
    return bytes(out)


def read_slot(t, slot, size=None):
    """A data slot: 32-byte reads while more than 32 bytes remain, then 4-byte reads."""
    if size is None:
        size = SLOT_SIZES[slot]
    out = bytearray(size)
    pos = 0
    while size - pos > 32:
        a = data_address(slot, pos // 32)
        out[pos:pos + 32] = t.request(lambda tr, a=a: read(tr, ZONE_DATA, a, 32))
        pos += 32
    while pos < size:
        a = data_address(slot, pos // 32, (pos % 32) // 4)
        n = min(4, size - pos)
        out[pos:pos + n] = t.request(lambda tr, a=a: read(tr, ZONE_DATA, a, 4))[:n]
        pos += 4
    return bytes(out)


def public_key(t, slot=0):
    return t.request(lambda tr: genkey_public(tr, slot))


def sign_digest(t, digest, slot=0):
    """Nonce pass-through + Sign external in one wake window (works on 508A and 608)."""
    if len(digest) != 32:
        raise NervesKeyError("sign_digest needs a 32-byte SHA-256 digest, got %d bytes"
                             % len(digest))

    def flow(tr):
        nonce_passthrough(tr, digest)
        return sign_external(tr, slot)

    return t.request(flow)
