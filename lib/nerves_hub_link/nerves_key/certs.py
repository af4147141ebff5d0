"""NervesKey compressed certificates (Microchip atcacert format 0) and their exact X.509 rebuild.

A slot holds 72 bytes: signature R||S, 3 encoded date bytes, signer/template/chain ids,
serial-number source and format. ``device_cert_der``/``signer_cert_der`` rebuild the DER
byte-for-byte as NervesKey's Elixir templates do (serial from SHA-256, SKI/AKI = SHA-1 of
the SubjectPublicKeyInfo, UTCTime before 2050, minimal signature INTEGERs).
Largest buffer: one certificate (< 600 bytes).
"""

import hashlib

from . import der
from .errors import CertificateError

COMPRESSED_SIZE = 72
# Bytes 67..71 (signer id, template/chain, SN source/format, reserved) NervesKey writes.
DEVICE_TRAILER = b"\x00\x00\x00\xb0\x00"
SIGNER_TRAILER = b"\x00\x00\x10\xa0\x00"
SIGNER_CN = "Signer"

_EXT_DEVICE = (
    b"\x30\x09\x06\x03\x55\x1d\x13\x04\x02\x30\x00"  # basicConstraints CA:FALSE
    b"\x30\x0e\x06\x03\x55\x1d\x0f\x01\x01\xff\x04\x04\x03\x02\x05\xa0"  # keyUsage crit
    b"\x30\x13\x06\x03\x55\x1d\x25\x04\x0c\x30\x0a\x06\x08\x2b\x06\x01\x05\x05\x07\x03\x02"
)
_EXT_SIGNER = (
    b"\x30\x12\x06\x03\x55\x1d\x13\x01\x01\xff\x04\x08\x30\x06\x01\x01\xff\x02\x01\x00"
    b"\x30\x0e\x06\x03\x55\x1d\x0f\x01\x01\xff\x04\x04\x03\x02\x01\x86"
    b"\x30\x1d\x06\x03\x55\x1d\x25\x04\x16\x30\x14\x06\x08\x2b\x06\x01\x05\x05\x07\x03\x01"
    b"\x06\x08\x2b\x06\x01\x05\x05\x07\x03\x02"
)
_AKI_PREFIX = b"\x30\x1f\x06\x03\x55\x1d\x23\x04\x18\x30\x16\x80\x14"
_SKI_PREFIX = b"\x30\x1d\x06\x03\x55\x1d\x0e\x04\x16\x04\x14"


class Validity:
    """Issue date (minutes/seconds are always 0) and lifetime in years (0 = no expiry)."""

    def __init__(self, year, month, day, hour, expire_years):
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.expire_years = expire_years

    def not_before(self):
        return (self.year, self.month, self.day, self.hour, 0, 0)

    def not_after(self):
        # Same month/day/hour, later year. A 29 February issue date gives 29 February of a
        # possibly non-leap year, as the template arithmetic does; kept for exact rebuilds.
        if self.expire_years == 0:
            return (9999, 12, 31, 23, 59, 59)
        return (self.year + self.expire_years, self.month, self.day, self.hour, 0, 0)

    def __eq__(self, other):
        return isinstance(other, Validity) and self.not_before() == other.not_before() \
            and self.expire_years == other.expire_years

    def __repr__(self):
        return "Validity(%d-%02d-%02d %02d:00Z, %d years)" % (
            self.year, self.month, self.day, self.hour, self.expire_years)


def decode_dates(b):
    """The 3 encoded date bytes -> ``Validity``; raises CertificateError on impossible dates."""
    if len(b) != 3:
        raise CertificateError("encoded dates must be 3 bytes, got %d: %r" % (len(b), bytes(b)))
    v = (b[0] << 16) | (b[1] << 8) | b[2]
    year, month, day = 2000 + (v >> 19), (v >> 15) & 0x0F, (v >> 10) & 0x1F
    hour, expire = (v >> 5) & 0x1F, v & 0x1F
    if not (1 <= month <= 12 and 1 <= day <= days_in_month(year, month) and hour <= 23):
        raise CertificateError(
            "impossible issue date in compressed certificate: %r -> %04d-%02d-%02d %02d:00"
            % (bytes(b), year, month, day, hour))
    return Validity(year, month, day, hour, expire)


def days_in_month(year, month):
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def encode_dates(year, month, day, hour, expire_years):
    """Inverse of ``decode_dates`` (years clamped to 2000..2031, lifetime >31 -> 0)."""
    y = min(max(year - 2000, 0), 31)
    e = expire_years if 0 <= expire_years <= 31 else 0
    v = (y << 19) | (month << 15) | (day << 10) | (hour << 5) | e
    return bytes((v >> 16, (v >> 8) & 0xFF, v & 0xFF))


def cert_serial(source, dates):
    """16-byte serial: SHA-256(source || dates)[:16] with the top two bits forced to 01."""
    h = hashlib.sha256(bytes(source) + bytes(dates)).digest()
    return bytes(((h[0] & 0x3F) | 0x40,)) + h[1:16]


def key_id(pub):
    """SKI/AKI as NervesKey computes it: SHA-1 of the full SubjectPublicKeyInfo DER."""
    return sha1(der.spki_p256(pub))


class Compressed:
    """A decoded 72-byte compressed certificate."""

    def __init__(self, signature, dates, validity):
        self.signature = signature  # raw R||S, 64 bytes
        self.dates = dates  # the 3 encoded bytes (also hashed into the serial)
        self.validity = validity


def decompress(comp, trailer, what="certificate"):
    """Check a slot against the NervesKey template ``trailer`` and decode it."""
    comp = bytes(comp)
    if len(comp) < COMPRESSED_SIZE:
        raise CertificateError("%s: compressed certificate is %d bytes, need %d"
                               % (what, len(comp), COMPRESSED_SIZE))
    comp = comp[:COMPRESSED_SIZE]
    if comp == bytes(COMPRESSED_SIZE):
        raise CertificateError("%s: slot is empty (all zeros)" % what,
                               hint="no certificate was provisioned for this pair")
    got = comp[67:72]
    if got != trailer:
        raise CertificateError(
            "%s: not a NervesKey compressed certificate: bytes 67..71 are %r, expected %r"
            % (what, got, trailer),
            hint="format version, reserved byte and signer/template/chain/SN-source ids "
                 "must match the NervesKey template")
    return Compressed(comp[0:64], comp[64:67], decode_dates(comp[64:67]))


def _tbs_and_sign(serial, issuer_cn, validity, subject_cn, pub, extensions, signature):
    tbs = der.seq(
        b"\xa0\x03\x02\x01\x02",
        der.tlv(der.INTEGER, serial),
        der.algorithm_ecdsa_sha256(),
        der.name_cn(issuer_cn),
        der.seq(der.time(*validity.not_before()), der.time(*validity.not_after())),
        der.name_cn(subject_cn),
        der.spki_p256(pub),
        der.tlv(0xA3, der.seq(extensions)),
    )
    sig = der.tlv(der.BIT_STRING, b"\x00", der.ecdsa_signature(signature))
    return der.seq(tbs, der.algorithm_ecdsa_sha256(), sig)


def device_cert_der(comp, device_sn, manufacturer_sn, device_pub, signer_pub):
    """Rebuild the device certificate (issuer CN "Signer", subject CN = manufacturer SN)."""
    c = decompress(comp, DEVICE_TRAILER, "device certificate")
    _check_key(device_pub, "device")
    _check_key(signer_pub, "signer")
    if len(device_sn) != 9:
        raise CertificateError("device serial number must be 9 bytes, got %r" % bytes(device_sn))
    ext = _EXT_DEVICE + _AKI_PREFIX + key_id(signer_pub)
    return _tbs_and_sign(cert_serial(device_sn, c.dates), SIGNER_CN, c.validity,
                         manufacturer_sn, device_pub, ext, c.signature)


def signer_cert_der(comp, signer_pub):
    """Rebuild the self-signed signer certificate (CN "Signer")."""
    c = decompress(comp, SIGNER_TRAILER, "signer certificate")
    _check_key(signer_pub, "signer")
    kid = key_id(signer_pub)
    ext = _EXT_SIGNER + _SKI_PREFIX + kid + _AKI_PREFIX + kid
    return _tbs_and_sign(cert_serial(signer_pub, c.dates), SIGNER_CN, c.validity,
                         SIGNER_CN, signer_pub, ext, c.signature)


def _check_key(pub, what):
    if len(pub) != 64:
        raise CertificateError("%s public key must be 64 bytes X||Y, got %d" % (what, len(pub)))


def sha1(data):
    """SHA-1 digest: hashlib's when the build has it, else a small pure-Python one."""
    h = getattr(hashlib, "sha1", None)
    if h is not None:
        return h(data).digest()
    return _sha1_py(bytes(data))


def _rol(x, n):
    return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF


def _sha1_py(msg):
    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    ml = len(msg) * 8
    msg = msg + b"\x80" + bytes((55 - len(msg)) % 64) + ml.to_bytes(8, "big")
    w = [0] * 80
    for off in range(0, len(msg), 64):
        for i in range(16):
            w[i] = int.from_bytes(msg[off + 4 * i:off + 4 * i + 4], "big")
        for i in range(16, 80):
            w[i] = _rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1)
        a, b, c, d, e = h
        for i in range(80):
            if i < 20:
                f, k = (b & c) | (~b & d), 0x5A827999
            elif i < 40:
                f, k = b ^ c ^ d, 0x6ED9EBA1
            elif i < 60:
                f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
            else:
                f, k = b ^ c ^ d, 0xCA62C1D6
            t = (_rol(a, 5) + (f & 0xFFFFFFFF) + e + k + w[i]) & 0xFFFFFFFF
            a, b, c, d, e = t, a, _rol(b, 30), c, d
        h = [(h[0] + a) & 0xFFFFFFFF, (h[1] + b) & 0xFFFFFFFF, (h[2] + c) & 0xFFFFFFFF,
             (h[3] + d) & 0xFFFFFFFF, (h[4] + e) & 0xFFFFFFFF]
    return b"".join(x.to_bytes(4, "big") for x in h)
