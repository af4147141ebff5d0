"""SHA-512 (FIPS 180-4), pure Python, streaming.

``Sha512Plain()`` has ``update(data)`` and ``digest()`` (once). ``Sha512`` is the
fastest pure variant on this interpreter: ``Sha512Viper`` (``sha512_viper``: 32-bit word
halves) on MicroPython with the viper emitter and a heap of at least ``SMALL_HEAP``: its
code prebuilt as native code in ``sha512_native`` when the build made one, else compiled at
import from ``sha512_src``'s source; else ``Sha512Plain`` (then no viper code is loaded: on
small heaps the viper state and class cost more RAM than the one meta.conf check gains).
Largest buffers: a 128-byte block plus the 80-word schedule (viper state 1344 bytes).
"""

import sys

from nerves_hub_link.errors import CryptoError

_M64 = 0xFFFFFFFFFFFFFFFF

IV = (
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
)

K = (
    0x428A2F98D728AE22, 0x7137449123EF65CD, 0xB5C0FBCFEC4D3B2F, 0xE9B5DBA58189DBBC,
    0x3956C25BF348B538, 0x59F111F1B605D019, 0x923F82A4AF194F9B, 0xAB1C5ED5DA6D8118,
    0xD807AA98A3030242, 0x12835B0145706FBE, 0x243185BE4EE4B28C, 0x550C7DC3D5FFB4E2,
    0x72BE5D74F27B896F, 0x80DEB1FE3B1696B1, 0x9BDC06A725C71235, 0xC19BF174CF692694,
    0xE49B69C19EF14AD2, 0xEFBE4786384F25E3, 0x0FC19DC68B8CD5B5, 0x240CA1CC77AC9C65,
    0x2DE92C6F592B0275, 0x4A7484AA6EA6E483, 0x5CB0A9DCBD41FBD4, 0x76F988DA831153B5,
    0x983E5152EE66DFAB, 0xA831C66D2DB43210, 0xB00327C898FB213F, 0xBF597FC7BEEF0EE4,
    0xC6E00BF33DA88FC2, 0xD5A79147930AA725, 0x06CA6351E003826F, 0x142929670A0E6E70,
    0x27B70A8546D22FFC, 0x2E1B21385C26C926, 0x4D2C6DFC5AC42AED, 0x53380D139D95B3DF,
    0x650A73548BAF63DE, 0x766A0ABB3C77B2A8, 0x81C2C92E47EDAEE6, 0x92722C851482353B,
    0xA2BFE8A14CF10364, 0xA81A664BBC423001, 0xC24B8B70D0F89791, 0xC76C51A30654BE30,
    0xD192E819D6EF5218, 0xD69906245565A910, 0xF40E35855771202A, 0x106AA07032BBD1B8,
    0x19A4C116B8D2D0C8, 0x1E376C085141AB53, 0x2748774CDF8EEB99, 0x34B0BCB5E19B48A8,
    0x391C0CB3C5C95A63, 0x4ED8AA4AE3418ACB, 0x5B9CCA4F7763E373, 0x682E6FF3D6B2B8A3,
    0x748F82EE5DEFB2FC, 0x78A5636F43172F60, 0x84C87814A1F0AB72, 0x8CC702081A6439EC,
    0x90BEFFFA23631E28, 0xA4506CEBDE82BDE9, 0xBEF9A3F7B2C67915, 0xC67178F2E372532B,
    0xCA273ECEEA26619C, 0xD186B8C721C0C207, 0xEADA7DD6CDE0EB1E, 0xF57D4F7FEE6ED178,
    0x06F067AA72176FBA, 0x0A637DC5A2C898A6, 0x113F9804BEF90DAE, 0x1B710B35131C471B,
    0x28DB77F523047D84, 0x32CAAB7B40C72493, 0x3C9EBE0A15C9BEBC, 0x431D67C49C100D4C,
    0x4CC5D4BECB3E42B6, 0x597F299CFC657E2A, 0x5FCB6FAB3AD6FAEC, 0x6C44198C4A475817,)


def _compress(h, block):
    w = [0] * 80  # sized once: no list growth (1 KiB blocks) on a fragmented heap
    for i in range(16):
        w[i] = int.from_bytes(block[8 * i:8 * i + 8], "big")
    for i in range(16, 80):
        x = w[i - 15]
        s0 = ((x >> 1) | (x << 63)) ^ ((x >> 8) | (x << 56)) ^ (x >> 7)
        x = w[i - 2]
        s1 = ((x >> 19) | (x << 45)) ^ ((x >> 61) | (x << 3)) ^ (x >> 6)
        w[i] = (w[i - 16] + (s0 & _M64) + w[i - 7] + (s1 & _M64)) & _M64
    a, b, c, d, e, f, g, hh = h
    for i in range(80):
        s1 = ((e >> 14) | (e << 50)) ^ ((e >> 18) | (e << 46)) ^ ((e >> 41) | (e << 23))
        ch = (e & f) ^ (~e & g)
        t1 = hh + (s1 & _M64) + ch + K[i] + w[i]
        s0 = ((a >> 28) | (a << 36)) ^ ((a >> 34) | (a << 30)) ^ ((a >> 39) | (a << 25))
        maj = (a & b) ^ (a & c) ^ (b & c)
        hh = g
        g = f
        f = e
        e = (d + t1) & _M64
        d = c
        c = b
        b = a
        a = (t1 + (s0 & _M64) + maj) & _M64
    for i, x in enumerate((a, b, c, d, e, f, g, hh)):
        h[i] = (h[i] + x) & _M64


def _plain_blocks(h, data, off, n):
    mv = memoryview(data)
    for i in range(off, off + (n << 7), 128):
        _compress(h, mv[i:i + 128])


class Sha512Plain:
    """SHA-512 with 64-bit Python ints (bigints on MicroPython).

    Also the base of ``sha512_viper``'s classes, which replace ``_blocks(state, data, offset,
    nblocks)``, ``_state()`` and ``_out()``.
    """

    digest_size = 64
    block_size = 128
    _blocks = staticmethod(_plain_blocks)

    def __init__(self, data=None):
        self._h = self._state()
        self._buf = bytearray(128)
        self._n = 0
        self._len = 0
        self._done = False
        if data:
            self.update(data)

    def _state(self):
        return list(IV)

    def update(self, data):
        if self._done:
            raise CryptoError("SHA-512: update() after digest()")
        n = len(data)
        self._len += n
        pos = 0
        if self._n:
            take = min(128 - self._n, n)
            self._buf[self._n:self._n + take] = memoryview(data)[:take]
            self._n += take
            if self._n < 128:
                return
            self._blocks(self._h, self._buf, 0, 1)
            self._n = 0
            pos = take
        full = (n - pos) >> 7
        if full:
            self._blocks(self._h, data, pos, full)
            pos += full << 7
        if pos < n:
            self._buf[0:n - pos] = memoryview(data)[pos:]
            self._n = n - pos

    def digest(self):
        if self._done:
            raise CryptoError("SHA-512: digest() called twice")
        bits = self._len * 8
        pad = 111 - self._n if self._n < 112 else 239 - self._n
        self.update(b"\x80" + bytes(pad) + bits.to_bytes(16, "big"))
        self._done = True
        return self._out()

    def _out(self):
        return b"".join(x.to_bytes(8, "big") for x in self._h)


_TEMPLATE = None  # the viper state template (sha512_viper)
Sha512 = Sha512Plain
SMALL_HEAP = 320 * 1024  # below this heap size the plain code is used (nothing compiled)
_narrow = []


def _viper_heap():
    """MicroPython (little-endian) with a heap of at least SMALL_HEAP bytes?"""
    if sys.implementation.name != "micropython" or sys.byteorder != "little":
        return False
    import gc

    return gc.mem_alloc() + gc.mem_free() >= SMALL_HEAP


def _prebuilt():
    """``blocks`` from the native module a board build made, or None."""
    try:
        from nerves_hub_link.crypto.sha512_native import blocks  # portable: ok (built)
    except (ImportError, ValueError):  # ValueError: .mpy for another architecture
        return None
    return blocks


def _setup():
    global _TEMPLATE, Sha512
    if not _viper_heap():
        return  # small heaps: the plain code, no viper module loaded
    from nerves_hub_link.crypto import sha512_viper

    fn = _prebuilt()
    if fn is None:
        from nerves_hub_link.crypto import _emit

        fn = sha512_viper.build(_emit.WIDE)
    _TEMPLATE = sha512_viper._template_state()
    cls = sha512_viper.make("Sha512Viper", fn)
    if cls is None:
        _TEMPLATE = None
        return
    Sha512 = cls


def implementations():
    """Every pure-Python SHA-512 class usable here (for tests and benchmarks).

    On a 64-bit host this also compiles ``Sha512Viper32``, the 32-bit-word code that
    boards run, so it can be tested; boards never pay for a second copy.
    """
    if Sha512 is Sha512Plain:
        return [Sha512Plain]
    from nerves_hub_link.crypto import _emit, sha512_viper

    if _emit.WIDE and not _narrow:
        _narrow.append(sha512_viper.make("Sha512Viper32", sha512_viper.build(False)))
    return [Sha512Plain, Sha512] + _narrow


_setup()
