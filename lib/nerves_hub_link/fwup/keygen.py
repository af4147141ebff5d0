"""fwup Ed25519 key files (spec 4.1): generate, read and write them.

* ``.pub``: base64 of the 32-byte public key (44 characters, no newline).
* ``.priv``: base64 of seed (32 bytes) + public key (32 bytes) (88 characters, no newline).

Readers accept what fwup accepts: raw 32/64 bytes, or base64 with or without padding; from
a file only the first 44/88 characters count, so trailing whitespace is harmless.
Largest buffer: a key file (under 100 bytes).
"""

import binascii

from nerves_hub_link.errors import CryptoError

PUBLIC_LEN = 32
PRIVATE_LEN = 64


def _ed25519():
    try:
        from nerves_hub_link.crypto import ed25519
    except ImportError:  # portable: ok
        return None
    return ed25519


def public_from_seed(seed):
    """The Ed25519 public key of a 32-byte seed."""
    ed = _ed25519()
    if ed is None:
        raise CryptoError("Ed25519 is not available (nerves_hub_link.crypto.ed25519 missing)")
    return bytes(ed.public_key(bytes(seed)))


def sign(private_key, message):
    """64-byte Ed25519 signature of ``message`` with a 64-byte fwup private key (or a seed)."""
    seed = bytes(private_key[:32])
    from nerves_hub_link import accel

    if accel.ed25519_sign is not None:
        return bytes(accel.ed25519_sign(seed, message))
    ed = _ed25519()
    if ed is None:
        raise CryptoError("Ed25519 signing is not available",
                          hint="install the CPython port (nhl_port.install()) or the crypto package")
    return bytes(ed.sign(seed, message))


def verify(public_key, signature, message):
    """True if ``signature`` is a valid Ed25519 signature of ``message``."""
    from nerves_hub_link import accel

    if accel.ed25519_verify is not None:
        return bool(accel.ed25519_verify(bytes(public_key), bytes(signature), message))
    ed = _ed25519()
    if ed is None:
        raise CryptoError("Ed25519 verification is not available")
    return bool(ed.verify(bytes(public_key), bytes(signature), message))


def generate_keys(seed=None):
    """A new key pair ``(public32, private64)``; ``seed`` (32 bytes) defaults to os.urandom."""
    if seed is None:
        import os

        seed = os.urandom(32)
    if len(seed) != 32:
        raise CryptoError("an Ed25519 seed is 32 bytes, got %d" % len(seed))
    pub = public_from_seed(seed)
    return pub, bytes(seed) + pub


def encode(key):
    """Base64 text of a key, padded, without newline (fwup's key file contents)."""
    return binascii.b2a_base64(bytes(key)).strip()


def decode(data, length, what="key"):
    """Key bytes from raw bytes or base64 text (padding optional); CryptoError otherwise."""
    data = bytes(data)
    if len(data) == length:
        return data
    text = data[:4 * ((length + 2) // 3)].strip()
    text = text.rstrip(b"=")
    try:
        raw = binascii.a2b_base64(text + b"=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != length:
        raise CryptoError("%s is not a %d-byte key in raw or base64 form (got %d bytes: %r)"
                          % (what, length, len(data), data[:32]),
                          hint="use a file written by `fwup -g` or `nhl fw keygen`")
    return raw


def read_key_file(path, length):
    """Read a public (32) or private (64) key file."""
    try:
        with open(path, "rb") as f:
            data = f.read(200)
    except OSError as e:
        raise CryptoError("can't read key file %s: %s" % (path, e), hint="check the path")
    return decode(data, length, path)


def write_key_files(prefix, public_key, private_key):
    """Write PREFIX.pub and PREFIX.priv (mode 0600); refuse to overwrite existing files."""
    import os

    paths = (prefix + ".pub", prefix + ".priv")
    for p in paths:
        try:
            os.stat(p)
        except OSError:
            continue
        raise CryptoError("%s already exists" % p,
                          hint="remove it or choose another prefix with -o")
    for p, key in ((paths[0], public_key), (paths[1], private_key)):
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except AttributeError:  # MicroPython: no os.open
            with open(p, "wb") as f:
                f.write(encode(key))
            continue
        try:
            os.write(fd, encode(key))
        finally:
            os.close(fd)
    return paths
