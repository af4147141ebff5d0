"""Hash factories that pick the fastest implementation present.

Order: port accelerator (``nerves_hub_link.accel``), C ``hashlib``, our pure
Python (the viper variant on MicroPython when the emitter exists). Every object has ``update(data)``
and ``digest()``; call ``digest()`` once. ``which_blake2b()``/``which_sha512()``
name the implementation the next factory call uses.
"""

import hashlib

from nerves_hub_link import accel

# Counters so tests and benchmarks can see which implementation ran.
used = {}


def _count(name):
    used[name] = used.get(name, 0) + 1


def which_blake2b():
    """'accel', 'hashlib' or the pure class name ('Blake2bViper', 'Blake2bPlain', ...)."""
    if accel.blake2b_256 is not None:
        return "accel"
    if hasattr(hashlib, "blake2b"):
        return "hashlib"
    from nerves_hub_link.crypto import blake2b

    return blake2b.Blake2b.__name__


def which_sha512():
    """'accel', 'hashlib' or the pure class name."""
    if accel.sha512 is not None:
        return "accel"
    if hasattr(hashlib, "sha512"):
        return "hashlib"
    from nerves_hub_link.crypto import sha512

    return sha512.Sha512.__name__


def blake2b_256():
    """A BLAKE2b hash object with a 32-byte digest (fwup resources)."""
    if accel.blake2b_256 is not None:
        _count("blake2b:accel")
        return accel.blake2b_256()
    if hasattr(hashlib, "blake2b"):
        _count("blake2b:hashlib")
        return hashlib.blake2b(digest_size=32)
    from nerves_hub_link.crypto import blake2b

    _count("blake2b:" + blake2b.Blake2b.__name__)
    return blake2b.Blake2b(32)


def sha512():
    """A SHA-512 hash object."""
    if accel.sha512 is not None:
        _count("sha512:accel")
        return accel.sha512()
    if hasattr(hashlib, "sha512"):
        _count("sha512:hashlib")
        return hashlib.sha512()
    from nerves_hub_link.crypto import sha512 as _sha512

    _count("sha512:" + _sha512.Sha512.__name__)
    return _sha512.Sha512()


def sha256():
    """A SHA-256 hash object (C hashlib on every port)."""
    return hashlib.sha256()


def sha1():
    """A SHA-1 hash object (C hashlib on the unix, ESP32 and RP2 ports)."""
    return hashlib.sha1()


def new(name):
    """Factory by name: 'sha256', 'sha512', 'sha1' or 'blake2b_256'."""
    f = _FACTORIES.get(name)
    if f is None:
        from nerves_hub_link.errors import CryptoError

        raise CryptoError("unknown digest %r" % (name,), hint="use sha256, sha512, sha1")
    return f()


_FACTORIES = {"sha256": sha256, "sha512": sha512, "sha1": sha1, "blake2b_256": blake2b_256}

_HEX = b"0123456789abcdef"


def to_hex(data):
    """Lower-case hex of bytes as str (no binascii.hexlify quirks)."""
    out = bytearray(2 * len(data))
    i = 0
    for b in data:
        out[i] = _HEX[b >> 4]
        out[i + 1] = _HEX[b & 15]
        i += 2
    return out.decode()
