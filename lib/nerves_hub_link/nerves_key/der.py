"""A small DER builder: exactly what the NervesKey certificates and ECDSA signatures need.

Every function returns ``bytes``. Largest buffer: the whole certificate (< 600 bytes).
"""

import binascii

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
OID = 0x06
UTF8_STRING = 0x0C
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18

OID_ECDSA_SHA256 = b"\x2a\x86\x48\xce\x3d\x04\x03\x02"
OID_EC_PUBLIC_KEY = b"\x2a\x86\x48\xce\x3d\x02\x01"
OID_P256 = b"\x2a\x86\x48\xce\x3d\x03\x01\x07"
OID_COMMON_NAME = b"\x55\x04\x03"


def length(n):
    """DER definite length octets."""
    if n < 0x80:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x81, n))
    return bytes((0x82, n >> 8, n & 0xFF))


def tlv(tag, *parts):
    """Tag, length and the concatenated ``parts``."""
    body = b"".join(parts)
    return bytes((tag,)) + length(len(body)) + body


def seq(*parts):
    return tlv(SEQUENCE, *parts)


def integer(raw):
    """Minimal positive INTEGER from big-endian bytes (leading zeros dropped, 0x00 added
    when the top bit is set)."""
    raw = bytes(raw)
    i = 0
    while i < len(raw) - 1 and raw[i] == 0:
        i += 1
    raw = raw[i:] or b"\x00"
    if raw[0] & 0x80:
        raw = b"\x00" + raw
    return tlv(INTEGER, raw)


def oid(body):
    return tlv(OID, body)


def algorithm_ecdsa_sha256():
    """AlgorithmIdentifier ecdsa-with-SHA256, without parameters."""
    return seq(oid(OID_ECDSA_SHA256))


def spki_p256(pub):
    """SubjectPublicKeyInfo (91 bytes) of a raw 64-byte P-256 key X||Y."""
    return seq(
        seq(oid(OID_EC_PUBLIC_KEY), oid(OID_P256)),
        tlv(BIT_STRING, b"\x00\x04", bytes(pub)),
    )


def name_cn(cn):
    """Name with one RDN holding one commonName as UTF8String."""
    if isinstance(cn, str):
        cn = cn.encode()
    return seq(tlv(SET, seq(oid(OID_COMMON_NAME), tlv(UTF8_STRING, cn))))


def _d2(n):
    return bytes((0x30 + n // 10, 0x30 + n % 10))


def time(year, month, day, hour, minute=0, second=0):
    """UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5)."""
    rest = _d2(month) + _d2(day) + _d2(hour) + _d2(minute) + _d2(second) + b"Z"
    if year < 2050:
        return tlv(UTC_TIME, _d2(year % 100), rest)
    return tlv(GENERALIZED_TIME, _d2(year // 100), _d2(year % 100), rest)


def ecdsa_signature(rs):
    """DER ``SEQUENCE { INTEGER r, INTEGER s }`` from a raw 64-byte R||S."""
    return seq(integer(rs[0:32]), integer(rs[32:64]))


def pem(der, label="CERTIFICATE"):
    """PEM text (str) with 64-character lines."""
    b64 = binascii.b2a_base64(der).strip()
    lines = ["-----BEGIN %s-----" % label]
    for i in range(0, len(b64), 64):
        lines.append(b64[i:i + 64].decode())
    lines.append("-----END %s-----" % label)
    return "\n".join(lines) + "\n"
