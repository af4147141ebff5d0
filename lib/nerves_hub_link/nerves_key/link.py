"""What the NervesHub link needs from a NervesKey: identity, TLS material, the sign callback.

* ``identity(nk)`` / ``identifier(nk)``: the manufacturer serial (device certificate CN)
  is the device's NervesHub identifier, also for NH1 shared-secret headers.
* ``tls_material(nk, pair)``: device and signer certificate DER plus a placeholder key.
* ``tls_ecdsa_sign_callback(nk)``: for MicroPython builds with
  ``MICROPY_PY_SSL_ECDSA_SIGN_ALT=1`` (``tls.SSLContext.ecdsa_sign_callback``): mbedTLS
  loads the device certificate with ``PLACEHOLDER_KEY_DER``; when it must sign, the
  callback recognises the placeholder scalar and has the chip sign the handshake hash,
  so the real private key never leaves the NervesKey.
  Stock MicroPython, CircuitPython and CPython ``ssl`` cannot delegate the signature:
  ``configure_tls_context`` raises, and such devices use the NH1 shared-secret path with
  ``identifier(nk)`` as identifier.
"""

import binascii
import sys

from nerves_hub_link.errors import NervesKeyError

# A fixed, public P-256 key (scalar = SHA-256(b"nerves_hub_link NervesKey placeholder key")).
# It only tells mbedTLS "this certificate has an EC key"; it never signs anything.
PLACEHOLDER_KEY_DER = binascii.unhexlify(
    "30770201010420743d2a630404ceb84cb5b553d7820e0d22ff5e3d1a3096151605066c59e4510a"
    "a00a06082a8648ce3d030107a14403420004cb09503a159c2b3340114ad8d6f4ec2b4052fc8a35d0"
    "567045ddd7a9df16a13189fc21f7e6c3bb65f610d3776dc7eb62ec081f3fbaa7fa682ebf1534afb7"
    "1b14")
PLACEHOLDER_SCALAR = PLACEHOLDER_KEY_DER[7:39]

_NO_DELEGATION_HINT = (
    "this TLS stack cannot let the chip sign: use a MicroPython build with "
    "MICROPY_PY_SSL_ECDSA_SIGN_ALT=1, or connect with an NH1 shared secret using "
    "identifier(nerves_key) as the device identifier")


def identifier(nk):
    """The NervesHub device identifier: the manufacturer serial number from OTP."""
    return nk.manufacturer_sn()


def identity(nk):
    """Identifier, chip serial, board name and chip type as a dict."""
    return {
        "identifier": nk.manufacturer_sn(),
        "serial_number": nk.serial_number(),
        "board_name": nk.board_name(),
        "device_type": nk.device_type(),
    }


def tls_material(nk, pair="primary"):
    """``{"cert": device DER, "chain": [signer DER], "key": placeholder key DER}``."""
    return {"cert": nk.device_cert(pair), "chain": [nk.signer_cert(pair)],
            "key": PLACEHOLDER_KEY_DER}


def _as_digest(h):
    # The chip signs a 32-byte value. ECDSA uses the leftmost 256 bits of a longer hash
    # (SHA-384/512), and a shorter hash (SHA-1) is the same integer left-padded with zeros.
    h = bytes(h)
    if len(h) >= 32:
        return h[:32]
    return bytes(32 - len(h)) + h


def tls_ecdsa_sign_callback(nk, placeholder=PLACEHOLDER_SCALAR):
    """``callback(key_bytes, hash_bytes) -> DER signature or None`` for mbedTLS.

    Returns None (mbedTLS signs itself) for any key other than ``placeholder``.
    """
    want = int.from_bytes(bytes(placeholder), "big")

    def callback(key, digest):
        if int.from_bytes(bytes(key), "big") != want:
            return None
        return nk.sign_digest(_as_digest(digest))

    return callback


def configure_tls_context(ctx, nk, pair="primary"):
    """Load the device certificate with the placeholder key and install the callback.

    ``ctx`` is a MicroPython ``tls.SSLContext``; raises NervesKeyError (with a hint to the
    shared-secret path) when the TLS stack cannot delegate ECDSA signing.
    """
    if sys.implementation.name != "micropython":
        raise NervesKeyError("%s's TLS cannot use the NervesKey private key"
                             % sys.implementation.name, hint=_NO_DELEGATION_HINT)
    try:
        ctx.ecdsa_sign_callback = tls_ecdsa_sign_callback(nk)
    except (AttributeError, TypeError):
        raise NervesKeyError("this MicroPython build has no tls.SSLContext.ecdsa_sign_callback",
                             hint=_NO_DELEGATION_HINT)
    ctx.load_cert_chain(nk.device_cert(pair), PLACEHOLDER_KEY_DER)
    return ctx
