# heapsize: 512K
# Ed25519 (RFC 8032): the RFC's test vectors, streaming verification, the fwup fixture keys.
import struct
from binascii import a2b_base64, unhexlify

from nerves_hub_link.crypto import ed25519
from nerves_hub_link.errors import CryptoError
from support import IS_MICROPYTHON, fixture, raises, read

# (secret seed, public key, message, signature) in hex, RFC 8032 section 7.1:
# TEST 1, 2, 3, 1024 (a 1023-byte message) and SHA(abc).
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
     "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1"
     "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
     "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a"
     "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
     "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10"
     "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
     "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d"
     "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
     "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b"
     "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
     "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b"
     "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
     "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d"
     "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
     "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7"
     "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
     "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09"
     "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
     "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161"
     "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
     "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca"
     "c60c905c15fc910840b94c00a0b9d0",
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"),
    ("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
]


def _vectors():
    for sk, pk, msg, sig in RFC8032:
        yield unhexlify(sk), unhexlify(pk), unhexlify(msg), unhexlify(sig)


def _chunked(pk, sig, msg, chunk):
    v = ed25519.Verifier(pk, sig)
    for i in range(0, len(msg), chunk):
        v.update(msg[i:i + chunk])
    return v.verify()


def _flip(data, bit):
    b = bytearray(data)
    b[bit >> 3] ^= 1 << (bit & 7)
    return bytes(b)


def test_rfc8032_public_keys():
    for sk, pk, _, _ in _vectors():
        assert ed25519.public_key(sk) == pk


def test_rfc8032_sign_pure():
    for sk, _, msg, sig in _vectors():
        assert ed25519.sign_pure(sk, msg) == sig
        assert ed25519.sign(sk, msg) == sig


def test_rfc8032_verify_one_shot():
    for _, pk, msg, sig in _vectors():
        assert ed25519.verify(pk, sig, msg) is True
        assert ed25519.verify_pure(pk, sig, msg) is True


def test_rfc8032_chunked_verifier_matches_one_shot():
    for _, pk, msg, sig in _vectors():
        for chunk in (1, 7, 4096):
            assert _chunked(pk, sig, msg, chunk) is True, (len(msg), chunk)
        bad = _flip(msg, 0) if msg else b"x"
        for chunk in (1, 7, 4096):
            assert _chunked(pk, sig, bad, chunk) is False, (len(msg), chunk)
            assert ed25519.verify_pure(pk, sig, bad) is False


def test_flipped_bit_in_message_fails():
    # Every bit on CPython for short messages; sampled positions on MicroPython.
    step = 29 if IS_MICROPYTHON else 1
    for _, pk, msg, sig in _vectors():
        s = step if len(msg) < 100 else 97
        for bit in range(0, 8 * len(msg), s):
            assert ed25519.verify_pure(pk, sig, _flip(msg, bit)) is False, bit


def test_flipped_bit_in_signature_fails():
    step = 13 if IS_MICROPYTHON else 1
    for _, pk, msg, sig in list(_vectors())[:3]:
        for bit in range(0, 512, step):
            assert ed25519.verify_pure(pk, _flip(sig, bit), msg) is False, bit
        assert ed25519.verify_pure(pk, _flip(sig, 511), msg) is False


def test_flipped_bit_in_key_fails():
    step = 11 if IS_MICROPYTHON else 1
    for _, pk, msg, sig in list(_vectors())[:3]:
        for bit in range(0, 256, step):
            assert ed25519.verify_pure(_flip(pk, bit), sig, msg) is False, bit


def test_non_canonical_s_rejected():
    _, pk, msg, sig = list(_vectors())[0]
    s = int.from_bytes(sig[32:], "little") + ed25519.L  # same value mod L, not canonical
    forged = sig[:32] + s.to_bytes(32, "little")
    assert ed25519.verify_pure(pk, forged, msg) is False
    assert ed25519.verify(pk, forged, msg) is False


def test_non_canonical_key_y_rejected():
    # y = p + 1 encodes the same field element as y = 1 (the neutral point) but is not canonical.
    bad = (ed25519.P + 1).to_bytes(32, "little")
    _, _, msg, sig = list(_vectors())[0]
    assert ed25519.verify_pure(bad, sig, msg) is False


def test_wrong_lengths_raise():
    _, pk, msg, sig = list(_vectors())[0]
    e = raises(CryptoError, ed25519.verify, pk[:31], sig, msg)
    assert "31" in str(e)
    raises(CryptoError, ed25519.verify, pk, sig + b"\x00", msg)
    raises(CryptoError, ed25519.Verifier, pk, sig[:63])
    raises(CryptoError, ed25519.public_key, b"short")


def test_verifier_refuses_reuse():
    _, pk, msg, sig = list(_vectors())[1]
    v = ed25519.Verifier(pk, sig)
    v.update(msg)
    assert v.verify() is True
    raises(CryptoError, v.verify)
    raises(CryptoError, v.update, b"x")


def _key(name):
    return a2b_base64(read(fixture("fwup", "keys", name)))


def _fwup_signature(path):
    data = read(path)
    sig_hdr = struct.unpack("<IHHHHHIIIHH", data[:30])
    assert sig_hdr[0] == 0x04034B50
    start = 30 + sig_hdr[9] + sig_hdr[10]
    assert data[30:30 + sig_hdr[9]] == b"meta.conf.ed25519"
    return data[start:start + 64]


def test_fwup_fixture_signature_verifies_with_fwup_key():
    meta = read(fixture("fwup", "F01_raw_write_basic", "meta.conf"))
    sig = _fwup_signature(fixture("fwup", "F01_raw_write_basic", "signed.fw"))
    pub = _key("fwup-key.pub")
    assert len(pub) == 32
    assert ed25519.verify_pure(pub, sig, meta) is True
    assert ed25519.verify(pub, sig, meta) is True
    assert _chunked(pub, sig, meta, 7) is True
    assert ed25519.verify_pure(pub, sig, meta + b"\n") is False


def test_fwup_fixture_other_key_fails():
    meta = read(fixture("fwup", "F01_raw_write_basic", "meta.conf"))
    sig = _fwup_signature(fixture("fwup", "F01_raw_write_basic", "signed.fw"))
    assert ed25519.verify_pure(_key("other-key.pub"), sig, meta) is False
    assert ed25519.verify(_key("other-key.pub"), sig, meta) is False


def test_fwup_private_key_reproduces_signature():
    # fwup's .priv is seed || public key; Ed25519 signatures are deterministic.
    priv = _key("fwup-key.priv")
    meta = read(fixture("fwup", "F01_raw_write_basic", "meta.conf"))
    assert ed25519.public_key(priv[:32]) == priv[32:] == _key("fwup-key.pub")
    sig = _fwup_signature(fixture("fwup", "F01_raw_write_basic", "signed.fw"))
    assert ed25519.sign_pure(priv[:32], meta) == sig


def test_slow_pow_fallback_matches_builtin():
    for b, e in ((3, 5), (ed25519.D, ed25519.P - 2), (2, (ed25519.P - 5) // 8)):
        assert ed25519._pow_slow(b, e, ed25519.P) == pow(b, e, ed25519.P)


def test_curve_constants_match_their_definitions():
    p = ed25519.P
    assert ed25519.D == (-121665 * pow(121666, p - 2, p)) % p
    assert ed25519.SQRT_M1 * ed25519.SQRT_M1 % p == p - 1
    assert ed25519.BY == 4 * pow(5, p - 2, p) % p
    x, y = ed25519.BX, ed25519.BY
    assert (y * y - x * x) % p == (1 + ed25519.D * x * x % p * y * y) % p
    assert x & 1 == 0  # RFC 8032: the base point's x is "positive" (even)
