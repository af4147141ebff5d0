"""fwup key formats: public key = base64 of 32 bytes, private key = base64 of seed||public.

Keys may also be given raw (exactly 32 / 64 bytes) or base64 without padding. From files
only the first 44 / 88 characters are read, so trailing whitespace is harmless.
"""

import binascii

from nerves_hub_link.errors import CryptoError

PUB_LEN = 32
PRIV_LEN = 64
MAX_KEYS = 10


def _decode(text, n, what):
    if isinstance(text, str):
        text = text.encode()
    text = bytes(text)
    if len(text) == n:
        return text
    s = text.strip()
    s = s + b"=" * (-len(s) % 4)
    try:
        raw = binascii.a2b_base64(s)
    except (ValueError, binascii.Error):
        raise CryptoError("Invalid %s key: not base64 (%r)" % (what, bytes(text[:16])))
    if len(raw) != n:
        raise CryptoError("Invalid %s key: %d bytes, expected %d" % (what, len(raw), n))
    return raw


def decode_public(text):
    """32-byte Ed25519 public key from fwup's text (or raw) form."""
    return _decode(text, PUB_LEN, "public")


def decode_private(text):
    """64-byte seed||public from fwup's text (or raw) form."""
    return _decode(text, PRIV_LEN, "private")


def read_public_file(path):
    with open(path, "rb") as f:
        data = f.read(44)
    return decode_public(data)


def read_private_file(path):
    with open(path, "rb") as f:
        data = f.read(88)
    return decode_private(data)


def encode(raw):
    """fwup's text form: standard base64 with padding, no newline."""
    return binascii.b2a_base64(raw).strip().decode()
