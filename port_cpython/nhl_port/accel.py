"""Fast crypto for CPython: hashlib's BLAKE2b/SHA-512 and `cryptography`'s Ed25519."""

import hashlib

from nerves_hub_link import accel as _accel


def _blake2b_256():
    return hashlib.blake2b(digest_size=32)


def _ed25519_verify(public_key, signature, message):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(bytes(signature), bytes(message))
        return True
    except (InvalidSignature, ValueError):
        return False


def _ed25519_sign(seed, message):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(bytes(seed)).sign(bytes(message))


def install():
    _accel.blake2b_256 = _blake2b_256
    _accel.sha512 = hashlib.sha512
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return
    _accel.ed25519_verify = _ed25519_verify
    _accel.ed25519_sign = _ed25519_sign
