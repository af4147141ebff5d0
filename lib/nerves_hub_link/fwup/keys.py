"""fwup public keys on the device: base64 of the 32-byte Ed25519 key (``fwup -g``'s ``.pub``).

Keys may also be given raw (exactly 32 bytes) or base64 without padding. From a file only
the first 44 characters are read, so trailing whitespace is harmless. Private keys and key
generation are host-side (``keygen``). No buffers beyond one key.
"""

import binascii

from nerves_hub_link.errors import CryptoError

PUB_LEN = 32
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


def read_public_file(path):
    with open(path, "rb") as f:
        data = f.read(44)
    return decode_public(data)
