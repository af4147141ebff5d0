"""BLAKE2b with 64-bit Python ints (``blake2b.Blake2bPlain``): the portable fallback, loaded
only where no viper code (or C hash) exists. Largest buffer: a 128-byte block.
"""

from nerves_hub_link.crypto.blake2b import _G_IDX, _M64, IV, SIGMA, _Blake2bBase


def _compress(h, block, t, last):
    m = [int.from_bytes(block[i:i + 8], "little") for i in range(0, 128, 8)]
    v = h[:8] + list(IV)
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


def _plain_blocks(st, data, off, n):
    mv = memoryview(data)
    for i in range(off, off + (n << 7), 128):
        st[8] += 128
        _compress(st, mv[i:i + 128], st[8], False)


class Blake2bPlain(_Blake2bBase):
    """BLAKE2b with 64-bit Python ints (bigints on MicroPython): portable, slow on boards."""

    _blocks = staticmethod(_plain_blocks)

    def _state(self, param):
        st = list(IV) + [0]  # h[0..7], then the byte counter
        st[0] ^= param
        return st

    def _final(self, st, buf, n):
        st[8] += n
        _compress(st, buf, st[8], True)
        return b"".join(x.to_bytes(8, "little") for x in st[:8])[:self.digest_size]
