"""Viper source text of the SHA-512 compression (see ``sha512``), generated on demand and
dropped by boards once compiled. No buffers: the source text is the largest object.
"""

from nerves_hub_link.crypto import _emit


def native_source(wide):
    """Text of ``sha512_native`` (``blocks`` as native code), which a board build compiles
    with ``mpy-cross -march``: the 64-bit-carry code when ``wide`` (x64)."""
    return "import micropython\n" + _source_for(wide)


def _rot(out, ind, dst, x, n):
    """dst = rotr64(x, n) into (dst+'l', dst+'h') (n != 32), or shr when n < 0."""
    if n < 0:
        n = -n
        out.append("%s%sl = ((%sl >> %d) | (%sh << %d)) & M" % (ind, dst, x, n, x, 32 - n))
        out.append("%s%sh = %sh >> %d" % (ind, dst, x, n))
        return
    lo, hi = x + "l", x + "h"
    if n > 32:
        lo, hi = hi, lo
        n -= 32
    out.append("%s%sl = ((%s >> %d) | (%s << %d)) & M" % (ind, dst, lo, n, hi, 32 - n))
    out.append("%s%sh = ((%s >> %d) | (%s << %d)) & M" % (ind, dst, hi, n, lo, 32 - n))


def _sigma(out, ind, dst, x, rots):
    _rot(out, ind, dst, x, rots[0])
    for n in rots[1:]:
        _rot(out, ind, "r", x, n)
        out.append("%s%sl ^= rl" % (ind, dst))
        out.append("%s%sh ^= rh" % (ind, dst))


def _viper_source(wide):
    add = _emit.add64
    i8 = "            "
    sched = []
    sched.append(i8 + "xl = uint(st[j - 4])")
    sched.append(i8 + "xh = uint(st[j - 3])")
    _sigma(sched, i8, "w", "x", (19, 61, -6))
    sched.append(i8 + "xl = uint(st[j - 30])")
    sched.append(i8 + "xh = uint(st[j - 29])")
    _sigma(sched, i8, "s", "x", (1, 8, -7))
    add(sched, i8, "w", "s", wide)
    sched.append(i8 + "sl = uint(st[j - 14])")
    sched.append(i8 + "sh = uint(st[j - 13])")
    add(sched, i8, "w", "s", wide)
    sched.append(i8 + "sl = uint(st[j - 32])")
    sched.append(i8 + "sh = uint(st[j - 31])")
    add(sched, i8, "w", "s", wide)
    sched.append(i8 + "st[j] = wl")
    sched.append(i8 + "st[j + 1] = wh")
    rnd = []
    _sigma(rnd, i8, "t", "e", (14, 18, 41))
    add(rnd, i8, "t", "h", wide)
    rnd.append(i8 + "sl = (el & fl) ^ (~el & gl)")
    rnd.append(i8 + "sh = (eh & fh) ^ (~eh & gh)")
    add(rnd, i8, "t", "s", wide)
    rnd.append(i8 + "sl = uint(st[176 + j])")
    rnd.append(i8 + "sh = uint(st[177 + j])")
    add(rnd, i8, "t", "s", wide)
    rnd.append(i8 + "sl = uint(st[16 + j])")
    rnd.append(i8 + "sh = uint(st[17 + j])")
    add(rnd, i8, "t", "s", wide)
    _sigma(rnd, i8, "u", "a", (28, 34, 39))
    rnd.append(i8 + "sl = (al & bl) ^ (al & cl) ^ (bl & cl)")
    rnd.append(i8 + "sh = (ah & bh) ^ (ah & ch) ^ (bh & ch)")
    add(rnd, i8, "u", "s", wide)
    for x, y in (("h", "g"), ("g", "f"), ("f", "e")):
        rnd.append("%s%sl = %sl" % (i8, x, y))
        rnd.append("%s%sh = %sh" % (i8, x, y))
    rnd.append(i8 + "el = dl")
    rnd.append(i8 + "eh = dh")
    add(rnd, i8, "e", "t", wide)
    for x, y in (("d", "c"), ("c", "b"), ("b", "a")):
        rnd.append("%s%sl = %sl" % (i8, x, y))
        rnd.append("%s%sh = %sh" % (i8, x, y))
    rnd.append(i8 + "al = tl")
    rnd.append(i8 + "ah = th")
    add(rnd, i8, "a", "u", wide)
    load = []
    fin = []
    i4 = "        "
    for k, v in enumerate("abcdefgh"):
        load.append("%s%sl = uint(st[%d])" % (i4, v, 2 * k))
        load.append("%s%sh = uint(st[%d])" % (i4, v, 2 * k + 1))
        fin.append("%ssl = uint(st[%d])" % (i4, 2 * k))
        fin.append("%ssh = uint(st[%d])" % (i4, 2 * k + 1))
        add(fin, i4, "s", v, wide)
        fin.append("%sst[%d] = sl" % (i4, 2 * k))
        fin.append("%sst[%d] = sh" % (i4, 2 * k + 1))
    return (_VIPER_TEMPLATE.replace("@SCHED@", "\n".join(sched))
            .replace("@LOAD@", "\n".join(load)).replace("@ROUND@", "\n".join(rnd))
            .replace("@FIN@", "\n".join(fin)))


_source_for = _viper_source


# blocks(state, data, offset, n): compress n 128-byte blocks of data from offset.
_VIPER_TEMPLATE = """
@micropython.viper
def blocks(st: ptr32, data: ptr8, off: int, nblocks: int):
    M = uint(0xFFFF) | (uint(0xFFFF) << 16)
    blk = 0
    while blk < nblocks:
        p = off + blk * 128
        j = 16
        while j < 48:
            st[j + 1] = ((uint(data[p]) << 24) | (uint(data[p + 1]) << 16)
                         | (uint(data[p + 2]) << 8) | uint(data[p + 3]))
            st[j] = ((uint(data[p + 4]) << 24) | (uint(data[p + 5]) << 16)
                     | (uint(data[p + 6]) << 8) | uint(data[p + 7]))
            p += 8
            j += 2
        while j < 176:
@SCHED@
            j += 2
@LOAD@
        j = 0
        while j < 160:
@ROUND@
            j += 2
@FIN@
        blk += 1
"""
