"""BLAKE2b (RFC 7693), pure Python, streaming.

``Blake2b(digest_size=64, key=b"")`` has ``update(data)`` and ``digest()``.
On MicroPython with the viper emitter, ``Blake2b`` is the viper class from
``_blake2b_viper`` (32-bit word halves); ``Blake2bPlain`` is always the portable one.
Largest buffer: one 128-byte block.
"""

from nerves_hub_link.errors import CryptoError

_M64 = 0xFFFFFFFFFFFFFFFF

IV = (
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
)

SIGMA = (
    b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
    b"\x0e\x0a\x04\x08\x09\x0f\x0d\x06\x01\x0c\x00\x02\x0b\x07\x05\x03"
    b"\x0b\x08\x0c\x00\x05\x02\x0f\x0d\x0a\x0e\x03\x06\x07\x01\x09\x04"
    b"\x07\x09\x03\x01\x0d\x0c\x0b\x0e\x02\x06\x05\x0a\x04\x00\x0f\x08"
    b"\x09\x00\x05\x07\x02\x04\x0a\x0f\x0e\x01\x0b\x0c\x06\x08\x03\x0d"
    b"\x02\x0c\x06\x0a\x00\x0b\x08\x03\x04\x0d\x07\x05\x0f\x0e\x01\x09"
    b"\x0c\x05\x01\x0f\x0e\x0d\x04\x0a\x00\x07\x06\x03\x09\x02\x08\x0b"
    b"\x0d\x0b\x07\x0e\x0c\x01\x03\x09\x05\x00\x0f\x04\x08\x06\x02\x0a"
    b"\x06\x0f\x0e\x09\x0b\x03\x00\x08\x0c\x02\x0d\x07\x01\x04\x0a\x05"
    b"\x0a\x02\x08\x04\x07\x06\x01\x05\x0f\x0b\x09\x0e\x03\x0c\x0d\x00"
)


def check_params(digest_size, key):
    if not 1 <= digest_size <= 64:
        raise CryptoError("BLAKE2b digest_size must be 1..64, got %r" % (digest_size,))
    if len(key) > 64:
        raise CryptoError("BLAKE2b key must be at most 64 bytes, got %d" % len(key))


def _compress(h, block, t, last):
    m = [int.from_bytes(block[i:i + 8], "little") for i in range(0, 128, 8)]
    v = list(h) + list(IV)
    v[12] ^= t & _M64
    v[13] ^= t >> 64
    if last:
        v[14] ^= _M64
    s = SIGMA
    for r in range(12):
        o = (r % 10) * 16
        for i, (a, b, c, d) in enumerate(_G_IDX):
            x = m[s[o + 2 * i]]
            y = m[s[o + 2 * i + 1]]
            va = (v[a] + v[b] + x) & _M64
            vd = v[d] ^ va
            vd = (vd >> 32) | ((vd << 32) & _M64)
            vc = (v[c] + vd) & _M64
            vb = v[b] ^ vc
            vb = (vb >> 24) | ((vb << 40) & _M64)
            va = (va + vb + y) & _M64
            vd ^= va
            vd = (vd >> 16) | ((vd << 48) & _M64)
            vc = (vc + vd) & _M64
            vb ^= vc
            vb = (vb >> 63) | ((vb << 1) & _M64)
            v[a] = va
            v[b] = vb
            v[c] = vc
            v[d] = vd
    for i in range(8):
        h[i] ^= v[i] ^ v[i + 8]


_G_IDX = (
    (0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
    (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14),
)


class Blake2bPlain:
    """BLAKE2b with 64-bit Python ints (bigints on MicroPython): portable, slow on boards."""

    def __init__(self, digest_size=64, key=b""):
        check_params(digest_size, key)
        self.digest_size = digest_size
        self._h = list(IV)
        self._h[0] ^= 0x01010000 ^ (len(key) << 8) ^ digest_size
        self._t = 0
        self._buf = bytearray(128)
        self._n = 0
        self._done = False
        if key:
            self.update(key)
            self.update(bytes(128 - len(key)))

    def update(self, data):
        if self._done:
            raise CryptoError("BLAKE2b: update() after digest()")
        mv = memoryview(data)
        n = len(mv)
        pos = 0
        buf = self._buf
        while pos < n:
            if self._n == 128:
                self._t += 128
                _compress(self._h, buf, self._t, False)
                self._n = 0
            take = min(128 - self._n, n - pos)
            buf[self._n:self._n + take] = mv[pos:pos + take]
            self._n += take
            pos += take

    def digest(self):
        if self._done:
            raise CryptoError("BLAKE2b: digest() called twice")
        self._done = True
        self._t += self._n
        for i in range(self._n, 128):
            self._buf[i] = 0
        _compress(self._h, self._buf, self._t, True)
        out = b"".join(x.to_bytes(8, "little") for x in self._h)
        return out[:self.digest_size]


Blake2b = Blake2bPlain


def implementations():
    """Every pure-Python BLAKE2b class usable on this interpreter (for tests, benchmarks)."""
    return [Blake2bPlain] if Blake2b is Blake2bPlain else [Blake2bPlain, Blake2b]
