# heapsize: 256K
# HMAC (RFC 4231 test cases) and PBKDF2 (RFC 6070-style; values from CPython hashlib), plus the
# NervesHub NH1 derived keys of nerveshub-protocol.md section 2.6.
from binascii import unhexlify

from nerves_hub_link.crypto import hmac
from nerves_hub_link.errors import CryptoError
from support import raises

RFC4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", "87aa7cdea5ef619d"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "164b7a7bfcf819e2"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", "fa73b0089d56a284"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", "b0ba465637458c69"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", "80b24263c7c1a3eb"),
]

PBKDF2 = [
    ("sha1", b"password", b"salt", 1, 20, "0c60c80f961f0e71f3a9b524af6012062fe037a6"),
    ("sha1", b"password", b"salt", 2, 20, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"),
    ("sha1", b"password", b"salt", 4096, 20, "4b007901b765489abead49d926f721d065a429c1"),
    ("sha1", b"passwordPASSWORDpassword", b"saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 25,
     "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"),
    ("sha1", b"pass\x00word", b"sa\x00lt", 4096, 16, "56fa6aa75548099dcc37d7f03425e0c3"),
    ("sha256", b"password", b"salt", 1, 32,
     "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"),
    ("sha256", b"password", b"salt", 2, 32,
     "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"),
    ("sha256", b"passwordPASSWORDpassword", b"saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 40,
     "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9"),
    ("sha512", b"password", b"salt", 2, 64,
     "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53c"
     "f76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e"),
]


def _salt(alg, key, t):
    return ("NH1:device-socket:shared-secret:connect\n\nx-nh-alg=" + alg + "\nx-nh-key=" + key
            + "\nx-nh-time=" + str(t) + "\n").encode()


def test_rfc4231_hmac_sha256_and_sha512():
    for key, msg, want256, want512 in RFC4231:
        assert hmac.hmac_digest(key, msg) == unhexlify(want256)
        assert hmac.hmac_digest_pure(key, msg, "sha256") == unhexlify(want256)
        assert hmac.hmac_digest_pure(key, msg, "sha512")[:8] == unhexlify(want512)
        assert hmac.hmac_digest(key, msg, "sha512")[:8] == unhexlify(want512)


def test_streaming_hmac_matches():
    key, msg, want, _ = RFC4231[4]
    h = hmac.Hmac(key, "sha256")
    for i in range(len(msg)):
        h.update(msg[i:i + 1])
    assert h.digest() == unhexlify(want)


def test_pbkdf2_vectors_pure_and_dispatch():
    for digest, pw, salt, n, length, want in PBKDF2:
        assert hmac.pbkdf2_hmac_pure(digest, pw, salt, n, length) == unhexlify(want), (digest, n)
        assert hmac.pbkdf2_hmac(digest, pw, salt, n, length) == unhexlify(want), (digest, n)


def test_nh1_derived_keys():
    alg = "NH1-HMAC-sha256-1000-32"
    k1 = hmac.pbkdf2_hmac_pure("sha256", b"test-secret", _salt(alg, "nhp_test", 1700000000),
                               1000, 32)
    assert k1 == unhexlify("26195c939650b82c562359463f755552b7c82359ecebfcd54e8a88cdad037e87")
    k2 = hmac.pbkdf2_hmac("sha256", b"devsecret", _salt(alg, "nhd_abc", 1718000000), 1000, 32)
    assert k2 == unhexlify("d72332e3f6f814208ec14e70a20fe459c9d7c93faaca4f07a4cee9370ff390d6")


def test_unknown_digest_and_bad_counts_raise():
    raises(CryptoError, hmac.hmac_digest, b"k", b"m", "md4")
    raises(CryptoError, hmac.pbkdf2_hmac, "sha3", b"p", b"s", 1, 32)
    raises(CryptoError, hmac.pbkdf2_hmac_pure, "sha256", b"p", b"s", 0, 32)
