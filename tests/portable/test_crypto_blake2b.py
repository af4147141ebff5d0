# heapsize: 512K
# BLAKE2b (RFC 7693) against digests computed with CPython hashlib and written here.
from binascii import hexlify, unhexlify

from nerves_hub_link.crypto import blake2b, hashes
from nerves_hub_link.errors import CryptoError
from support import raises


def pat(n):
    return bytes((i * 7 + 3) & 255 for i in range(n))


B2_256 = {
    0: "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8",
    1: "e88bd757ad5b9bedf372d8d3f0cf6c962a469db61a265f6418e1ffed86da29ec",
    3: "9facd640130c81e7f318a8d5c660bc1b0f5d03861ffbd4cc1358e0e904593c28",
    111: "f9ed2452d6931a670223e30c33b238c8464cbedf0d7bf8b15fafca239c12da37",
    112: "e98c807957dc83fdea152bc2400bd6ec9c40683361af30a8b51a271b90b9dad4",
    127: "c9ae3859964b35f04c54b36d33cf299d7290ee621005d28e51598a943560aaaa",
    128: "f0501d06597880592bc49234eef100ec1ff349058d0e9d9b753504e24af86dd6",
    129: "a34a4e1e03c541dfbf3099c4b6c143c022ced65c28bd7e8a10e0a098461aecf0",
    255: "f2d64a40e9412a3414161ff6250075225418fd7c271c1123e162e1bca0de9f93",
    256: "d93ebb9c802f5630ab22516fd82b6c21bc8bd551d531349b715f046ed11ed871",
    257: "4ce481b24d387422d2bc2baa03d1afd55a1327939ff537c71eb9b38709268649",
    1000: "d62b6c768ce1afc8367e0498ab2f8e3f7c178c35b1429f14c4604b545d200f52",
}
B2_512 = {
    0: (
        "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419"
        "d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce"
    ),
    1: (
        "4fe4da61bcc756071b226843361d74944c72245d23e8245ea678c13fdcd7fe2a"
        "e529cf999ad99cc24f7a73416a18ba53e76c0afef83b16a568b12fbfc1a2674d"
    ),
    3: (
        "76ce7e90c577d436a65b691e51f0a1ad536130d70a18df3bf5368551327258b6"
        "f706f4a47c45f2d0d8147cfbb5623077e798247972e4f9338603a13abc05a4db"
    ),
    111: (
        "4a2d61debfb29cecd41c05bfb98b1ec0198a0673118eb2c6eeb9a09c7be6707b"
        "da4304e2c617790477dce166e510ef0b834e4fa60479f9ac85df28f9bf36a14d"
    ),
    112: (
        "7249a2011abf019553cc93049ed40ea6c09665de6e7a47b18f4aa4341248a57a"
        "e3e7d6f1a252a633154e4811ca6c3336b36d8e57cf122d8b7e32b783f70bc1df"
    ),
    127: (
        "71546bbf9110ad184cc60f2eb120fcfd9b4dbbca7a7f1270045b8a23a6a4f433"
        "0f65c1f030dd2f5fabc6c57617242c37cf427bd90407fac5b9deffd3ae888c39"
    ),
    128: (
        "2d9e329f42afa3601d646692b81c13e87fcaff5bf15972e9813d7373cb6d181f"
        "9599f4d513d4af4fd6ebd37497aceb29aba5ee23ed764d8510b552bd088814fb"
    ),
    129: (
        "47889df9eb4d717afc5019df5c6a83df00a0b8677395e078cd5778ace0f338a6"
        "18e68b7d9afb065d9e6a01ccd31d109447e7fae771c3ee3e105709194122ba2b"
    ),
    255: (
        "1a5199ac66a00e8a87ad1c7fbad30b33137dd8312bf6d98602dacf8f40ea2cb6"
        "23a7fbc63e5a6bfa434d337ae7da5ca1a52502a215a3fe0297a151be85d88789"
    ),
    256: (
        "91019c558584980249ca43eceed27e19f1c3c24161b93eed1eee2a6a774f60bf"
        "8a81b43750870bee1698feac9c5336ae4d5c842e7ead159bf3916387e8ded9ae"
    ),
    257: (
        "9f1975efca45e7b74b020975d4d2c22802906ed8bfefca51ac497bd23147fc8f"
        "303890d8e5471ab6caaa02362e831a9e8d3435279912ccd4842c7806b096c348"
    ),
    1000: (
        "4bdd2c9cf31d797a81d245c989ffb7515143ca345c66f73087dd5c58bf642bf0"
        "83ba16894eab79e3b08d5126404d833e7510271b50be36a7b7cbbb46f5c89fac"
    ),
}


def _digest(cls, data, size, chunk, key=b""):
    h = cls(size, key)
    for i in range(0, len(data), chunk):
        h.update(data[i:i + chunk])
    return h.digest()


def test_rfc7693_abc_blake2b_512():
    for cls in blake2b.implementations():
        h = cls(64)
        h.update(b"abc")
        assert h.digest() == unhexlify(
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
            "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        ), cls


def test_blake2b_256_vectors_every_length():
    for cls in blake2b.implementations():
        for n in B2_256:
            assert hexlify(_digest(cls, pat(n), 32, 4096)).decode() == B2_256[n], (cls, n)


def test_blake2b_512_vectors_every_length():
    for cls in blake2b.implementations():
        for n in B2_512:
            assert hexlify(_digest(cls, pat(n), 64, 4096)).decode() == B2_512[n], (cls, n)


def test_blake2b_chunked_equals_one_shot():
    data = pat(1000)
    for cls in blake2b.implementations():
        for chunk in (1, 7, 127, 128, 129):
            assert hexlify(_digest(cls, data, 32, chunk)).decode() == B2_256[1000], (cls, chunk)


def test_blake2b_keyed_and_short_digest():
    for cls in blake2b.implementations():
        got = _digest(cls, pat(200), 20, 64, key=b"key-" * 5)
        assert got == unhexlify("4bc6e58bbdc8aa30c34435e4051e59a82b7864fb"), cls


def test_blake2b_memoryview_and_bytearray_input():
    for cls in blake2b.implementations():
        h = cls(32)
        h.update(memoryview(pat(300))[:100])
        h.update(bytearray(pat(300)[100:]))
        assert hexlify(h.digest()).decode() == _B300, cls


_B300 = "3f712d8870a79a34ed4aed7b4e82123cea195af956e7ebef11d8a9d2f644734e"


def test_blake2b_bad_parameters_raise():
    for cls in blake2b.implementations():
        raises(CryptoError, cls, 0)
        raises(CryptoError, cls, 65)
        raises(CryptoError, cls, 32, bytes(65))


def test_blake2b_digest_twice_raises():
    for cls in blake2b.implementations():
        h = cls(32)
        h.digest()
        raises(CryptoError, h.digest)
        raises(CryptoError, h.update, b"x")


def test_factory_blake2b_256_fwup_empty():
    h = hashes.blake2b_256()
    h.update(b"")
    assert hexlify(h.digest()).decode() == B2_256[0]
    assert hashes.which_blake2b() in ("accel", "hashlib", "Blake2bPlain", "Blake2bViper",
                                       "Blake2bNative")
