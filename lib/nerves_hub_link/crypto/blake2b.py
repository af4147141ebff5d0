"""BLAKE2b (RFC 7693), pure Python, streaming.

``Blake2b(digest_size=64, key=b"")`` has ``update(data)`` and ``digest()`` (once).
``Blake2b`` is the fastest variant on this interpreter: ``Blake2bViper`` on
MicroPython with the viper emitter (64-bit words as 32-bit halves, compiled at
import, about 3 ms on x64), else ``Blake2bPlain`` (Python ints; bigints on
MicroPython). Largest buffers: a 128-byte block and a 592-byte viper state.
"""

import struct

from nerves_hub_link.crypto import _emit
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


# -- viper variant --------------------------------------------------------------
# State words (32-bit): h 0..15, message 48..79, counter 80..81, final flag 82,
# counter increment 83, IV 84..99, sigma rows 0..11 as bytes at byte offset 400.
_ST_WORDS = 148
_SIGMA_AT = 400


def _rotate_rows(o, ind, forward):
    """Rotate rows 1..3 of v left by 1, 2, 3 (forward) or back, renaming locals."""
    r1 = ("v4", "v5", "v6", "v7") if forward else ("v7", "v6", "v5", "v4")
    r3 = ("v15", "v14", "v13", "v12") if forward else ("v12", "v13", "v14", "v15")
    for row in (r1, r3):
        for part in "lh":
            o.append("%st%s = %s%s" % (ind, part, row[0], part))
            for i in range(3):
                o.append("%s%s%s = %s%s" % (ind, row[i], part, row[i + 1], part))
            o.append("%s%s%s = t%s" % (ind, row[3], part, part))
    for a, b in (("v8", "v10"), ("v9", "v11")):
        for part in "lh":
            o.append("%st%s = %s%s" % (ind, part, a, part))
            o.append("%s%s%s = %s%s" % (ind, a, part, b, part))
            o.append("%s%s%s = t%s" % (ind, b, part, part))


def _viper_source(wide, compact=False):
    """Viper source of ``blocks``; ``compact`` runs 24 half-rounds of 4 G (rows rotated
    between them) instead of 12 rounds of 8 G: about half the machine code, a bit slower."""
    ind = "            "
    o = []
    for gi, (a, b, c, d) in enumerate(_G_IDX[:4] if compact else _G_IDX):
        va, vb, vc, vd = "v%d" % a, "v%d" % b, "v%d" % c, "v%d" % d
        for half in (0, 1):
            o.append("%sk = 48 + 2 * int(s8[so + %d])" % (ind, 2 * gi + half))
            o.append("%sml = uint(st[k])" % ind)
            o.append("%smh = uint(st[k + 1])" % ind)
            _emit.add64(o, ind, va, vb, wide)
            _emit.add64(o, ind, va, "m", wide)
            o.append("%stl = %sl ^ %sl" % (ind, vd, va))
            o.append("%sth = %sh ^ %sh" % (ind, vd, va))
            if half == 0:  # d = rotr32(d ^ a)
                o.append("%s%sl = th" % (ind, vd))
                o.append("%s%sh = tl" % (ind, vd))
            else:  # d = rotr16(d ^ a)
                o.append("%s%sl = ((tl >> 16) | (th << 16)) & M" % (ind, vd))
                o.append("%s%sh = ((th >> 16) | (tl << 16)) & M" % (ind, vd))
            _emit.add64(o, ind, vc, vd, wide)
            o.append("%stl = %sl ^ %sl" % (ind, vb, vc))
            o.append("%sth = %sh ^ %sh" % (ind, vb, vc))
            if half == 0:  # b = rotr24(b ^ c)
                o.append("%s%sl = ((tl >> 24) | (th << 8)) & M" % (ind, vb))
                o.append("%s%sh = ((th >> 24) | (tl << 8)) & M" % (ind, vb))
            else:  # b = rotr63(b ^ c)
                o.append("%s%sl = ((tl << 1) | (th >> 31)) & M" % (ind, vb))
                o.append("%s%sh = ((th << 1) | (tl >> 31)) & M" % (ind, vb))
    step = 16
    if compact:
        step = 8
        o.append(ind + "if odd == 0:")
        _rotate_rows(o, ind + "    ", True)
        o.append(ind + "    odd = 1")
        o.append(ind + "else:")
        _rotate_rows(o, ind + "    ", False)
        o.append(ind + "    odd = 0")
    init = ["        odd = 0"]
    fin = []
    for i in range(8):
        init.append("        v%dl = uint(st[%d])" % (i, 2 * i))
        init.append("        v%dh = uint(st[%d])" % (i, 2 * i + 1))
        init.append("        v%dl = uint(st[%d])" % (i + 8, 84 + 2 * i))
        init.append("        v%dh = uint(st[%d])" % (i + 8, 85 + 2 * i))
        fin.append("        st[%d] = uint(st[%d]) ^ v%dl ^ v%dl" % (2 * i, 2 * i, i, i + 8))
        fin.append("        st[%d] = uint(st[%d]) ^ v%dh ^ v%dh"
                   % (2 * i + 1, 2 * i + 1, i, i + 8))
    return (_VIPER_TEMPLATE.replace("@INIT@", "\n".join(init))
            .replace("@ROUND@", "\n".join(o)).replace("@FIN@", "\n".join(fin))
            .replace("@STEP@", str(step)))


def _source_for(wide):
    """Boards (32-bit words) get the compact code; 64-bit hosts the fully unrolled one."""
    return _viper_source(wide, compact=not wide)


# blocks(state, data, offset, n): compress n 128-byte blocks of data from offset.
_VIPER_TEMPLATE = """
@micropython.viper
def blocks(st: ptr32, data: ptr8, off: int, nblocks: int):
    s8 = ptr8(st)
    M = uint(0xFFFF) | (uint(0xFFFF) << 16)
    blk = 0
    while blk < nblocks:
        inc = uint(st[83])
        lo = uint(st[80])
        nl = (lo + inc) & M
        st[80] = nl
        st[81] = (uint(st[81]) + (((lo & inc) | ((lo | inc) & ~nl)) >> 31)) & M
        p = off + blk * 128
        i = 0
        while i < 32:
            st[48 + i] = (uint(data[p]) | (uint(data[p + 1]) << 8) | (uint(data[p + 2]) << 16)
                          | (uint(data[p + 3]) << 24))
            p += 4
            i += 1
@INIT@
        v12l ^= uint(st[80])
        v12h ^= uint(st[81])
        v14l ^= uint(st[82])
        v14h ^= uint(st[82])
        so = 400
        while so < 592:
@ROUND@
            so += @STEP@
@FIN@
        blk += 1
"""


def _template_state():
    st = bytearray(4 * _ST_WORDS)
    for i in range(8):
        struct.pack_into("<II", st, 8 * i, IV[i] & 0xFFFFFFFF, IV[i] >> 32)
        struct.pack_into("<II", st, 4 * 84 + 8 * i, IV[i] & 0xFFFFFFFF, IV[i] >> 32)
    struct.pack_into("<I", st, 4 * 83, 128)
    st[_SIGMA_AT:_SIGMA_AT + 192] = SIGMA + SIGMA[:32]
    return st


class _Blake2bViperBase:
    _blocks = None

    def __init__(self, digest_size=64, key=b""):
        check_params(digest_size, key)
        self.digest_size = digest_size
        st = bytearray(_TEMPLATE)
        param = 0x01010000 ^ (len(key) << 8) ^ digest_size
        struct.pack_into("<I", st, 0, (IV[0] & 0xFFFFFFFF) ^ param)
        self._st = st
        self._buf = bytearray(128)
        self._n = 0
        self._done = False
        if key:
            self.update(key)
            self.update(bytes(128 - len(key)))

    def update(self, data):
        if self._done:
            raise CryptoError("BLAKE2b: update() after digest()")
        n = len(data)
        if not n:
            return
        blocks = self._blocks
        pos = 0
        if self._n:
            take = min(128 - self._n, n)
            self._buf[self._n:self._n + take] = memoryview(data)[:take]
            self._n += take
            if take == n:
                return  # a full buffer may be the last block: keep it
            blocks(self._st, self._buf, 0, 1)
            self._n = 0
            pos = take
        full = (n - pos - 1) >> 7  # keep at least one byte back for the final block
        if full:
            blocks(self._st, data, pos, full)
            pos += full << 7
        self._buf[0:n - pos] = memoryview(data)[pos:]
        self._n = n - pos

    def digest(self):
        if self._done:
            raise CryptoError("BLAKE2b: digest() called twice")
        self._done = True
        st = self._st
        struct.pack_into("<II", st, 4 * 82, 0xFFFFFFFF, self._n)
        buf = self._buf
        for i in range(self._n, 128):
            buf[i] = 0
        self._blocks(st, buf, 0, 1)
        return bytes(st[:self.digest_size])


_TEMPLATE = None
Blake2b = Blake2bPlain
_narrow = []


def _setup():
    global _TEMPLATE, Blake2b
    fast = _emit.build(_source_for(_emit.WIDE), "blocks")
    if fast is None:
        return
    _TEMPLATE = _template_state()

    class Blake2bViper(_Blake2bViperBase):
        """BLAKE2b in viper code (MicroPython)."""

        _blocks = staticmethod(fast)

    Blake2b = Blake2bViper


def implementations():
    """Every pure-Python BLAKE2b class usable here (for tests and benchmarks).

    On a 64-bit host this also compiles ``Blake2bViper32``, the 32-bit-word code that
    boards run, so it can be tested; boards never pay for a second copy.
    """
    if Blake2b is Blake2bPlain:
        return [Blake2bPlain]
    if _emit.WIDE and not _narrow:
        narrow = _emit.build(_source_for(False), "blocks")

        class Blake2bViper32(_Blake2bViperBase):
            """The 32-bit-word viper code (what MCUs run), on a 64-bit host."""

            _blocks = staticmethod(narrow)

        _narrow.append(Blake2bViper32)
    return [Blake2bPlain, Blake2b] + _narrow


_setup()
