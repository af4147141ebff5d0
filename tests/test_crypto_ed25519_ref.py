"""Our Ed25519 against `cryptography` (OpenSSL) on random keys and messages (CPython only)."""

import random
from binascii import unhexlify

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st
from nerves_hub_link import accel
from nerves_hub_link.crypto import ed25519, hashes


def _ref(seed, msg):
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    pub = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return pub, sk.sign(msg)


def _ref_ok(pub, sig, msg):
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=2000))
def test_sign_and_public_key_match_openssl(seed, msg):
    pub, sig = _ref(seed, msg)
    assert ed25519.public_key(seed) == pub
    assert ed25519.sign_pure(seed, msg) == sig
    assert ed25519.verify_pure(pub, sig, msg)


def test_random_corruptions_agree_with_openssl():
    rnd = random.Random(5)
    for _ in range(200):
        seed = rnd.randbytes(32)
        msg = rnd.randbytes(rnd.randrange(0, 300))
        pub, sig = _ref(seed, msg)
        which = rnd.randrange(3)
        if which == 0:
            sig = bytearray(sig)
            sig[rnd.randrange(64)] ^= 1 << rnd.randrange(8)
            sig = bytes(sig)
        elif which == 1:
            pub = bytearray(pub)
            pub[rnd.randrange(32)] ^= 1 << rnd.randrange(8)
            pub = bytes(pub)
        elif msg:
            msg = bytearray(msg)
            msg[rnd.randrange(len(msg))] ^= 1 << rnd.randrange(8)
            msg = bytes(msg)
        ours = ed25519.verify_pure(pub, sig, msg)
        assert ours == _ref_ok(pub, sig, msg)
        assert ours is (which == 2 and not msg)


def test_every_bit_of_rfc_1023_byte_message():
    from test_crypto_ed25519 import RFC8032

    _, pk, msg, sig = (unhexlify(x) for x in RFC8032[3])
    assert len(msg) == 1023
    v = ed25519.Verifier(pk, sig)
    v.update(msg)
    assert v.verify()
    for bit in range(0, 8 * len(msg), 3):
        bad = bytearray(msg)
        bad[bit >> 3] ^= 1 << (bit & 7)
        assert not ed25519.verify_pure(pk, sig, bytes(bad)), bit


def test_verify_uses_accelerator_when_set(monkeypatch):
    calls = []

    def fake(pub, sig, msg):
        calls.append(len(msg))
        return True

    monkeypatch.setattr(accel, "ed25519_verify", fake)
    assert ed25519.verify(bytes(32), bytes(64), b"abc") is True
    assert calls == [3]


def test_verifier_hashes_with_the_factory(monkeypatch):
    monkeypatch.setattr(accel, "sha512", None)
    before = hashes.used.get("sha512:hashlib", 0)
    pub, sig = _ref(bytes(range(32)), b"meta")
    v = ed25519.Verifier(pub, sig)
    v.update(b"me")
    v.update(b"ta")
    assert v.verify()
    assert hashes.used["sha512:hashlib"] == before + 1


def test_small_order_and_identity_keys_do_not_verify_real_signatures():
    pub, sig = _ref(bytes(32), b"x")
    identity = (1).to_bytes(32, "little")
    assert not ed25519.verify_pure(identity, sig, b"x")
