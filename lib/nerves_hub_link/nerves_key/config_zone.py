"""Configuration zone (128 bytes), OTP zone (64 bytes) and the NervesKey slot layout.

Pure parsing: no I/O. Largest buffer: the 128-byte config image it is given.
"""

from .errors import NotProvisionedError

CONFIG_SIZE = 128
OTP_SIZE = 64
OTP_MAGIC = b"Nrvs"
DEFAULT_BOARD_NAME = "NervesKey"

# Data-zone slot sizes (508A/608A): 0-7 = 36, 8 = 416, 9-15 = 72.
SLOT_SIZES = (36, 36, 36, 36, 36, 36, 36, 36, 416, 72, 72, 72, 72, 72, 72, 72)

PAIRS = ("primary", "aux")
DEVICE_CERT_SLOT = {"primary": 10, "aux": 9}
SIGNER_PUBKEY_SLOT = {"primary": 11, "aux": 14}
SIGNER_CERT_SLOT = {"primary": 12, "aux": 15}
PRIVATE_KEY_SLOT = 0

LOCKED = 0x00  # NervesKey writes 0x00; the chip reads 0x55 as unlocked
UNLOCKED = 0x55


def check_pair(pair):
    if pair not in DEVICE_CERT_SLOT:
        from nerves_hub_link.errors import ConfigError

        raise ConfigError("certificate pair must be 'primary' or 'aux', got %r" % (pair,))
    return pair


class ConfigZone:
    """Fields of the 128-byte config zone that a NervesKey reader needs."""

    def __init__(self, raw):
        if len(raw) != CONFIG_SIZE:
            from nerves_hub_link.errors import NervesKeyError

            raise NervesKeyError("config zone must be %d bytes, got %d" % (CONFIG_SIZE, len(raw)))
        self.raw = bytes(raw)

    @property
    def serial_number(self):
        """9-byte device serial number (config[0:4] + config[8:13])."""
        return self.raw[0:4] + self.raw[8:13]

    @property
    def revision(self):
        return self.raw[4:8]

    @property
    def device_type(self):
        """"ATECC508A", "ATECC608" or "unknown (0x..)" from revision byte 2."""
        return device_type(self.revision)

    @property
    def i2c_address(self):
        """7-bit I2C address the chip is configured for."""
        return self.raw[16] >> 1

    @property
    def chip_mode(self):
        return self.raw[19]

    @property
    def lock_value(self):
        return self.raw[86]

    @property
    def data_locked(self):
        """Data and OTP zones locked (datasheet: any value but 0x55)."""
        return self.raw[86] != UNLOCKED

    @property
    def config_locked(self):
        return self.raw[87] != UNLOCKED

    @property
    def provisioned(self):
        """NervesKey's ``provisioned?``: LockValue == 0x00."""
        return self.raw[86] == LOCKED

    def slot_locked(self, slot):
        """SlotLocked bit (bytes 88-89, little endian; 0 = locked)."""
        bits = self.raw[88] | (self.raw[89] << 8)
        return not (bits >> slot) & 1

    def slot_config(self, slot):
        return self.raw[20 + 2 * slot] | (self.raw[21 + 2 * slot] << 8)

    def is_secret(self, slot):
        return bool(self.slot_config(slot) & 0x80)

    @property
    def provisioning_mode(self):
        """"unprovisioned", "volatile" (608 activation needed), "regular" or "unrecognized"."""
        if self.raw[86] != LOCKED:
            return "unprovisioned"
        if self.raw[20:22] == b"\x87\x20":
            return "volatile" if self.raw[96:98] == b"\x33\x10" else "regular"
        return "unrecognized"

    def lock_status(self):
        return {
            "config": self.config_locked,
            "data": self.data_locked,
            "slot0": self.slot_locked(0),
        }


def device_type(revision):
    b = revision[2]
    if b == 0x50:
        return "ATECC508A"
    if b == 0x60:
        return "ATECC608"
    return "unknown (0x%02x)" % b


class OtpInfo:
    """Board name and manufacturer serial number from the NervesKey OTP zone."""

    def __init__(self, board_name, manufacturer_sn, flags):
        self.board_name = board_name
        self.manufacturer_sn = manufacturer_sn
        self.flags = flags

    def __repr__(self):
        return "OtpInfo(%r, %r)" % (self.board_name, self.manufacturer_sn)


def _ascii(b):
    end = len(b)
    while end and b[end - 1] == 0:
        end -= 1
    try:
        return bytes(b[:end]).decode()
    except UnicodeError:
        raise NotProvisionedError("OTP text field is not UTF-8: %r" % bytes(b[:end]))


def parse_otp(raw):
    """Parse the 64-byte OTP zone; raises NotProvisionedError without the ``Nrvs`` magic."""
    raw = bytes(raw)
    if len(raw) != OTP_SIZE:
        raise NotProvisionedError("OTP zone must be %d bytes, got %d" % (OTP_SIZE, len(raw)))
    if raw[0:4] != OTP_MAGIC:
        raise NotProvisionedError("not a NervesKey: OTP starts with %r, expected %r"
                                  % (raw[0:4], OTP_MAGIC))
    flags = (raw[4] << 8) | raw[5]
    serial = raw[16:64] if flags & 1 else raw[16:32]
    return OtpInfo(_ascii(raw[6:16]), _ascii(serial), flags)


def build_otp(board_name, manufacturer_sn):
    """The OTP image NervesKey provisioning writes (flags 1 for serials of 17..48 bytes)."""
    name = board_name.encode() if isinstance(board_name, str) else bytes(board_name)
    sn = manufacturer_sn.encode() if isinstance(manufacturer_sn, str) else bytes(manufacturer_sn)
    if len(name) > 10 or len(sn) > 48:
        from nerves_hub_link.errors import ConfigError

        raise ConfigError("board name <= 10 bytes and serial <= 48 bytes, got %d and %d"
                          % (len(name), len(sn)))
    flags = 1 if len(sn) > 16 else 0
    out = bytearray(OTP_SIZE)
    out[0:4] = OTP_MAGIC
    out[5] = flags
    out[6:6 + len(name)] = name
    out[16:16 + len(sn)] = sn
    return bytes(out)


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def base32(data):
    """RFC 4648 Base32, upper case, no padding (NervesKey's default serial from the device SN)."""
    out = []
    acc = bits = 0
    for b in data:
        acc = ((acc << 8) | b) & 0xFFFF
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append(_B32[(acc >> bits) & 31])
    if bits:
        out.append(_B32[(acc << (5 - bits)) & 31])
    return "".join(out)
