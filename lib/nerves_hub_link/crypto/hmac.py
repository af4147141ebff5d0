"""HMAC (RFC 2104) and PBKDF2-HMAC (RFC 8018) for sha256, sha512 and sha1.

Uses CPython's ``hmac``/``hashlib.pbkdf2_hmac`` when present, else our own over
``hashes``. Largest buffer: two block-sized pads (128 bytes for SHA-512).
"""

from nerves_hub_link.crypto import hashes
from nerves_hub_link.errors import CryptoError

try:
    from hashlib import pbkdf2_hmac as _c_pbkdf2  # portable: ok
except ImportError:
    _c_pbkdf2 = None

try:
    import hmac as _c_hmac  # portable: ok
except ImportError:
    _c_hmac = None

_BLOCK = {"sha256": 64, "sha1": 64, "sha512": 128}
_SIZE = {"sha256": 32, "sha1": 20, "sha512": 64}


def _check(digest):
    if digest not in _BLOCK:
        raise CryptoError("unsupported HMAC digest %r" % (digest,), hint="use sha256, sha512 or sha1")


def _pads(key, digest):
    bs = _BLOCK[digest]
    key = bytes(key)
    if len(key) > bs:
        h = hashes.new(digest)
        h.update(key)
        key = h.digest()
    ipad = bytearray(bs)
    opad = bytearray(bs)
    for i in range(len(key)):
        ipad[i] = key[i] ^ 0x36
        opad[i] = key[i] ^ 0x5C
    for i in range(len(key), bs):
        ipad[i] = 0x36
        opad[i] = 0x5C
    return bytes(ipad), bytes(opad)


def _mac(ipad, opad, msg, digest):
    h = hashes.new(digest)
    h.update(ipad)
    h.update(msg)
    inner = h.digest()
    h = hashes.new(digest)
    h.update(opad)
    h.update(inner)
    return h.digest()


class Hmac:
    """Streaming HMAC: ``Hmac(key, digest)``, ``update(data)``, ``digest()`` (once)."""

    def __init__(self, key, digest="sha256"):
        _check(digest)
        self._name = digest
        ipad, self._opad = _pads(key, digest)
        self._inner = hashes.new(digest)
        self._inner.update(ipad)

    def update(self, data):
        self._inner.update(data)

    def digest(self):
        outer = hashes.new(self._name)
        outer.update(self._opad)
        outer.update(self._inner.digest())
        return outer.digest()


def hmac_digest_pure(key, msg, digest="sha256"):
    """HMAC with our own code (no C hmac), for tests and ports without it."""
    h = Hmac(key, digest)
    h.update(msg)
    return h.digest()


def hmac_digest(key, msg, digest="sha256"):
    """HMAC-``digest`` of ``msg`` under ``key`` as bytes."""
    _check(digest)
    if _c_hmac is not None and hasattr(_c_hmac, "digest"):
        return _c_hmac.digest(bytes(key), bytes(msg), digest)
    return hmac_digest_pure(key, msg, digest)


def pbkdf2_hmac_pure(digest, password, salt, iterations, length):
    """PBKDF2-HMAC with our own HMAC (pads computed once, XOR done on one big int)."""
    _check(digest)
    if iterations < 1 or length < 1:
        raise CryptoError("PBKDF2 needs iterations >= 1 and length >= 1, got %r, %r"
                          % (iterations, length))
    ipad, opad = _pads(password, digest)
    size = _SIZE[digest]
    salt = bytes(salt)
    nblocks = (length + size - 1) // size
    out = bytearray(nblocks * size)  # sized once
    for block in range(1, nblocks + 1):
        u = _mac(ipad, opad, salt + block.to_bytes(4, "big"), digest)
        acc = int.from_bytes(u, "big")
        for _ in range(iterations - 1):
            u = _mac(ipad, opad, u, digest)
            acc ^= int.from_bytes(u, "big")
        out[(block - 1) * size:block * size] = acc.to_bytes(size, "big")
    return bytes(out[:length])


def pbkdf2_hmac(digest, password, salt, iterations, length):
    """PBKDF2-HMAC-``digest`` (Plug.Crypto/NH1: sha256, 1000 rounds, 32 bytes)."""
    _check(digest)
    if _c_pbkdf2 is not None:
        return _c_pbkdf2(digest, bytes(password), bytes(salt), iterations, length)
    return pbkdf2_hmac_pure(digest, password, salt, iterations, length)
