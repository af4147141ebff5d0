"""Viper source text of the BLAKE2b compression (see ``blake2b``), generated on demand.

Kept apart from ``blake2b`` so a board loads this generator only while it compiles the code
and then drops it. Three shapes of ``blocks(st, data, off, n)``:

* ``_viper_source(wide, compact=False)``: 12 rounds of 8 G unrolled on local variables
  (fastest; 64-bit hosts);
* ``compact=True``: 24 half-rounds of 4 G (rows rotated between them), about half the
  machine code (boards);
* ``small_source(wide)``: one G in a loop over an index table, v kept in the state array:
  about a third of the source, so compiling it fits a small heap; slower.

Also the set-up ``blake2b`` runs once (``setup``, ``build``) and ``native_source``, the
module a board build compiles with ``mpy-cross -march`` into ``blake2b_native``.
No buffers: the source text (up to 13 kB) is the largest object.
"""

from nerves_hub_link.crypto import _emit
from nerves_hub_link.crypto.blake2b import _G_IDX, _template_state


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
# The block loop's head, shared by both templates: bump the byte counter, load the 16 message
# words as 32 little-endian halves at state words 48..79.
_HEAD = """
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
"""
_VIPER_TEMPLATE = _HEAD + """@INIT@
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


def _g(o, ind, wide):
    """One G on locals al/ah .. dl/dh with message words from sigma bytes at ``so + i2``."""
    for half in (0, 1):
        o.append("%sk = 48 + 2 * int(s8[so + i2 + %d])" % (ind, half))
        o.append("%sml = uint(st[k])" % ind)
        o.append("%smh = uint(st[k + 1])" % ind)
        _emit.add64(o, ind, "a", "b", wide)
        _emit.add64(o, ind, "a", "m", wide)
        o.append("%stl = dl ^ al" % ind)
        o.append("%sth = dh ^ ah" % ind)
        if half == 0:
            o.append("%sdl = th" % ind)
            o.append("%sdh = tl" % ind)
        else:
            o.append("%sdl = ((tl >> 16) | (th << 16)) & M" % ind)
            o.append("%sdh = ((th >> 16) | (tl << 16)) & M" % ind)
        _emit.add64(o, ind, "c", "d", wide)
        o.append("%stl = bl ^ cl" % ind)
        o.append("%sth = bh ^ ch" % ind)
        if half == 0:
            o.append("%sbl = ((tl >> 24) | (th << 8)) & M" % ind)
            o.append("%sbh = ((th >> 24) | (tl << 8)) & M" % ind)
        else:
            o.append("%sbl = ((tl << 1) | (th >> 31)) & M" % ind)
            o.append("%sbh = ((th << 1) | (tl >> 31)) & M" % ind)


def small_source(wide):
    """Viper source of ``blocks`` with one G in a loop (v at state words 148..179, the G
    index table as bytes at 720)."""
    o = []
    _g(o, "                ", wide)
    return _SMALL_TEMPLATE.replace("@G@", "\n".join(o))


_SMALL_TEMPLATE = _HEAD + """        i = 0
        while i < 16:
            st[148 + i] = uint(st[i])
            st[164 + i] = uint(st[84 + i])
            i += 1
        st[172] = uint(st[172]) ^ uint(st[80])
        st[173] = uint(st[173]) ^ uint(st[81])
        st[176] = uint(st[176]) ^ uint(st[82])
        st[177] = uint(st[177]) ^ uint(st[82])
        so = 400
        while so < 592:
            i2 = 0
            while i2 < 16:
                ia = 148 + 2 * int(s8[720 + 2 * i2])
                ib = 148 + 2 * int(s8[721 + 2 * i2])
                ic = 148 + 2 * int(s8[722 + 2 * i2])
                idd = 148 + 2 * int(s8[723 + 2 * i2])
                al = uint(st[ia])
                ah = uint(st[ia + 1])
                bl = uint(st[ib])
                bh = uint(st[ib + 1])
                cl = uint(st[ic])
                ch = uint(st[ic + 1])
                dl = uint(st[idd])
                dh = uint(st[idd + 1])
@G@
                st[ia] = al
                st[ia + 1] = ah
                st[ib] = bl
                st[ib + 1] = bh
                st[ic] = cl
                st[ic + 1] = ch
                st[idd] = dl
                st[idd + 1] = dh
                i2 += 2
            so += 16
        i = 0
        while i < 16:
            st[i] = uint(st[i]) ^ uint(st[148 + i]) ^ uint(st[164 + i])
            i += 1
        blk += 1
"""


def native_source(wide):
    """Text of ``blake2b_native``: the fast ``blocks`` for 64-bit viper words when ``wide``
    (x64), else the compact code boards run."""
    return "import micropython\n" + _source_for(wide)


def build(kind):
    """Compile one viper variant: "fast" (per ``_emit.WIDE``), "narrow" or "small"."""
    if kind == "small":
        src = small_source(_emit.WIDE)
    else:
        src = _source_for(_emit.WIDE and kind == "fast")
    return _emit.build(src, "blocks")


def setup(small_heap):
    """``blake2b``'s choice: (class name, compiled ``blocks``, template state) of the viper
    variant for this heap (the small one under ``small_heap`` bytes), or None (no viper)."""
    if not _emit.USABLE:
        return None
    small = _emit.heap_size() < small_heap
    fn = build("small" if small else "fast")
    if fn is None:
        return None
    return ("Blake2bViperSmall" if small else "Blake2bViper", fn, _template_state())
