# heapsize: 512K
# SHA-512 (FIPS 180-4) against published vectors and CPython hashlib digests written here.
from binascii import hexlify, unhexlify

from nerves_hub_link.crypto import hashes, sha512
from nerves_hub_link.errors import CryptoError
from support import raises


def pat(n):
    return bytes((i * 7 + 3) & 255 for i in range(n))


SHA512 = {
    0: (
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
    ),
    1: (
        "e45bf5817ddf94aa2f7a407071f0eedc6beb98f768b4cd33d1176d44d1563a45"
        "a5d7212290eb7670c6786b13591aedac86478993895e8b24e612014abaa6ba04"
    ),
    3: (
        "8853167ab14c043919981a6409307ef68b5b726f4b80dcab259daa24b7cabcb8"
        "b4bbfd3e2e36ed98465059661f672e6529cdcc673e7eabfa78dd3186745b112a"
    ),
    111: (
        "68cffa6d0d76f309c9ce0d35280939f8e25990c43b7b086ccdf709be35b07d4d"
        "dba599541ff2b1c19d34ea49aeafb9659adb7ac3c0b078bb30a22d57fc6687ef"
    ),
    112: (
        "d0865c524d1dddf7c23b799c413f5adcd7caefd3f66a9b49750ec81066012c25"
        "a8bcf94ddea6dc525691673097ca40e0101e897fc97218cfdb0704084e2bef4b"
    ),
    127: (
        "e0b6a20f1c0c88970a9340152cd5a1c1ecf3d3b8de5510274187943807947354"
        "0133b812706e5dbec322c8c9523b6fc8c6d16ee626e87ad5fe3d2916afedc369"
    ),
    128: (
        "99b16f17aa0b969a5b8f08f367719d516e330ccd2660b6f0688ec031dbc783de"
        "50a1cd185a2568dba75070a2403d17d4741d163578515dfd2ff756ddfe4d47b1"
    ),
    129: (
        "a1556e29185778aa5991e34b8884c840d589f0fbb4b8ed590e51e9ac4eb03a00"
        "8125000db2671f8fe7f485b59a77b518670078ecb41a54b4cd02a7f1d2ca4c6d"
    ),
    255: (
        "c2e3bb67012f9eb526202efa59997933f7d3e75e7ded738818bc27d94977f457"
        "3afddb1b2793745701e62affa3b7a1c8262c992a321f488a6b1942a4795bab98"
    ),
    256: (
        "e49c208e41556e859d1a52d14784a061c2d5ae2c8690a5360e9f9344f60861c1"
        "362a9ec05a9f08a4167b3da41bdd122a387413dd06976470e4beff5053f2ac71"
    ),
    257: (
        "a8f13f5f1f09e5c21370bd3e0f3a60ce9987663b95068a2cc9a2bc5cbfdc4c34"
        "611325699468e00350bd2e06a62c6cad8710001d407971f5e4e3d1dc6b484fdd"
    ),
    1000: (
        "00e36fccf193e59697a92b5ab24666ce6326d7fa16bf10832d0991ddc591112e"
        "9dfa6a636950ed9c4d67344a760654c2ff7785e1d60094d651038735b5dccabd"
    ),
}

FIPS_ABC = (
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
)
FIPS_896 = (
    "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
    "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
)
MSG_896 = (
    b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
    b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
)


def _digest(cls, data, chunk):
    h = cls()
    for i in range(0, len(data), chunk):
        h.update(data[i:i + chunk])
    return h.digest()


def test_fips_abc_empty_and_896_bit():
    for cls in sha512.implementations():
        assert _digest(cls, b"abc", 64) == unhexlify(FIPS_ABC), cls
        assert hexlify(_digest(cls, b"", 64)).decode() == SHA512[0], cls
        assert len(MSG_896) == 112
        assert _digest(cls, MSG_896, 64) == unhexlify(FIPS_896), cls


def test_sha512_vectors_every_length():
    for cls in sha512.implementations():
        for n in SHA512:
            assert hexlify(_digest(cls, pat(n), 4096)).decode() == SHA512[n], (cls, n)


def test_sha512_chunked_equals_one_shot():
    data = pat(1000)
    for cls in sha512.implementations():
        for chunk in (1, 7, 111, 128, 129):
            assert hexlify(_digest(cls, data, chunk)).decode() == SHA512[1000], (cls, chunk)


def test_sha512_digest_twice_raises():
    for cls in sha512.implementations():
        h = cls()
        h.digest()
        raises(CryptoError, h.digest)
        raises(CryptoError, h.update, b"x")


def test_factory_sha512_abc():
    h = hashes.sha512()
    h.update(b"abc")
    assert h.digest() == unhexlify(FIPS_ABC)
    assert hashes.which_sha512() in ("accel", "hashlib", "Sha512Plain", "Sha512Viper")


def test_factory_by_name_and_unknown():
    h = hashes.new("sha256")
    h.update(b"abc")
    assert hashes.to_hex(h.digest()) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    raises(CryptoError, hashes.new, "md4")
