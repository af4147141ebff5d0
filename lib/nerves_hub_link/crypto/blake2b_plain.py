"""BLAKE2b with 64-bit Python ints (``blake2b.Blake2bPlain``): the portable fallback, loaded
only where no viper code (or C hash) exists. Largest buffer: a 128-byte block.
"""

from nerves_hub_link.crypto.blake2b import _G_IDX, _M64, IV, SIGMA, check_params
from nerves_hub_link.errors import CryptoError


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
