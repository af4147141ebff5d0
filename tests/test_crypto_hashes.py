"""Pure-Python BLAKE2b/SHA-512/HMAC/PBKDF2 against CPython hashlib and hmac (CPython only)."""

import hashlib
import hmac as std_hmac
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from nerves_hub_link import accel
from nerves_hub_link.crypto import blake2b, hashes, hmac, sha512

LENGTHS = [0, 1, 63, 64, 65, 111, 112, 113, 127, 128, 129, 255, 256, 257, 1000, 4096, 65537]


def _rand(n, seed=1):
    return random.Random(seed * 1000003 + n).randbytes(n)


def test_blake2b_plain_matches_hashlib_many_lengths():
    for n in LENGTHS:
        data = _rand(n)
        for size in (32, 64):
            h = blake2b.Blake2bPlain(size)
            h.update(data)
            assert h.digest() == hashlib.blake2b(data, digest_size=size).digest(), (n, size)


def test_blake2b_plain_random_lengths_and_keys():
    rnd = random.Random(7)
    for _ in range(40):
        n = rnd.randrange(0, 3000)
        size = rnd.randrange(1, 65)
        key = rnd.randbytes(rnd.randrange(0, 65))
        data = rnd.randbytes(n)
        h = blake2b.Blake2bPlain(size, key)
        h.update(data)
        assert h.digest() == hashlib.blake2b(data, digest_size=size, key=key).digest()


def test_blake2b_plain_one_mib_in_odd_chunks():
    data = _rand(1 << 20)
    h = blake2b.Blake2bPlain(32)
    for i in range(0, len(data), 10007):
        h.update(data[i:i + 10007])
    assert h.digest() == hashlib.blake2b(data, digest_size=32).digest()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=700), st.lists(st.integers(1, 300), min_size=1, max_size=8))
def test_blake2b_plain_any_chunking(data, cuts):
    h = blake2b.Blake2bPlain(32)
    pos = i = 0
    while pos < len(data):
        step = cuts[i % len(cuts)]
        h.update(data[pos:pos + step])
        pos += step
        i += 1
    assert h.digest() == hashlib.blake2b(data, digest_size=32).digest()


def test_sha512_plain_matches_hashlib_many_lengths():
    for n in LENGTHS:
        data = _rand(n, 2)
        h = sha512.Sha512Plain()
        h.update(data)
        assert h.digest() == hashlib.sha512(data).digest(), n


def test_sha512_plain_million_a():
    h = sha512.Sha512Plain()
    chunk = b"a" * 1000
    for _ in range(1000):
        h.update(chunk)
    assert h.digest().hex() == (
        "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
        "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"
    )


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=700), st.integers(1, 200))
def test_sha512_plain_any_chunking(data, step):
    h = sha512.Sha512Plain()
    for i in range(0, len(data), step):
        h.update(data[i:i + step])
    assert h.digest() == hashlib.sha512(data).digest()


def test_factories_follow_accel_then_hashlib(monkeypatch):
    monkeypatch.setattr(accel, "blake2b_256", None)
    monkeypatch.setattr(accel, "sha512", None)
    assert hashes.which_blake2b() == "hashlib"
    assert hashes.which_sha512() == "hashlib"
    calls = []

    def fake():
        calls.append(1)
        return blake2b.Blake2bPlain(32)

    monkeypatch.setattr(accel, "blake2b_256", fake)
    assert hashes.which_blake2b() == "accel"
    before = hashes.used.get("blake2b:accel", 0)
    h = hashes.blake2b_256()
    h.update(b"abc")
    assert h.digest() == hashlib.blake2b(b"abc", digest_size=32).digest()
    assert calls == [1] and hashes.used["blake2b:accel"] == before + 1


def test_factories_fall_back_to_pure_without_hashlib(monkeypatch):
    class NoBlake:
        sha256 = hashlib.sha256
        sha1 = hashlib.sha1

    monkeypatch.setattr(hashes, "hashlib", NoBlake)
    monkeypatch.setattr(accel, "blake2b_256", None)
    monkeypatch.setattr(accel, "sha512", None)
    assert hashes.which_blake2b() == "Blake2bPlain"
    assert hashes.which_sha512() == "Sha512Plain"
    h = hashes.sha512()
    assert isinstance(h, sha512.Sha512Plain)
    h.update(b"abc")
    assert h.digest() == hashlib.sha512(b"abc").digest()
    assert isinstance(hashes.blake2b_256(), blake2b.Blake2bPlain)


def test_cpython_port_registers_accelerators(monkeypatch):
    import nhl_port

    monkeypatch.setattr(accel, "blake2b_256", None)
    monkeypatch.setattr(accel, "sha512", None)
    monkeypatch.setattr(accel, "ed25519_verify", None)
    monkeypatch.setattr(accel, "ed25519_sign", None)
    nhl_port.install()
    assert hashes.which_blake2b() == "accel" and hashes.which_sha512() == "accel"
    h = hashes.blake2b_256()
    h.update(b"x" * 300)
    assert h.digest() == hashlib.blake2b(b"x" * 300, digest_size=32).digest()


def test_to_hex():
    assert hashes.to_hex(bytes(range(256))) == bytes(range(256)).hex()


def test_hmac_pure_matches_stdlib_random():
    rnd = random.Random(3)
    for _ in range(60):
        key = rnd.randbytes(rnd.randrange(0, 200))
        msg = rnd.randbytes(rnd.randrange(0, 500))
        for d in ("sha256", "sha512", "sha1"):
            want = std_hmac.new(key, msg, d).digest()
            assert hmac.hmac_digest_pure(key, msg, d) == want
            assert hmac.hmac_digest(key, msg, d) == want


def test_pbkdf2_pure_matches_hashlib_random():
    rnd = random.Random(4)
    for _ in range(12):
        pw = rnd.randbytes(rnd.randrange(0, 150))
        salt = rnd.randbytes(rnd.randrange(0, 80))
        n = rnd.randrange(1, 50)
        length = rnd.randrange(1, 100)
        for d in ("sha256", "sha512", "sha1"):
            want = hashlib.pbkdf2_hmac(d, pw, salt, n, length)
            assert hmac.pbkdf2_hmac_pure(d, pw, salt, n, length) == want
