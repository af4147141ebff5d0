"""U-Boot environment codec (``mkenvimage`` layout, plain and redundant), as fwup writes it.

Layout: CRC-32 (LE) of the data area, then (redundant only) a flag byte, then
``name=value\\0...`` and one more ``\\0``, padded with ``0xFF`` to the environment size.

API::

    decode(buf, redundant=False, block=0, raw=False) -> dict   # str, or bytes if raw
    encode(env, size, redundant=False, flags=0) -> bytearray    # pairs sorted by name
    choose(buf1, buf2, block1, block2) -> (env_raw, flags, write_primary, write_redund)
    choose_read(read1, read2, flag1, flag2, block1, block2) -> the same, copies read lazily

Errors raise ``FwupError`` with fwup's texts. Largest buffer: one environment (``size``).
"""

import binascii
import struct

from nerves_hub_link.errors import FwupError


def _b(s):
    return s if isinstance(s, (bytes, bytearray)) else s.encode("utf-8")


def decode(buf, redundant=False, block=0, raw=False):
    """Check the CRC and parse the pairs of one environment copy."""
    start = 5 if redundant else 4
    if len(buf) < start + 1:
        raise FwupError("Invalid U-boot environment")
    expected = struct.unpack("<I", bytes(buf[0:4]))[0]
    got = binascii.crc32(memoryview(buf)[start:]) & 0xFFFFFFFF
    if expected != got:
        raise FwupError("U-boot environment (block %d) CRC32 mismatch (expected 0x%08x; got 0x%08x)"
                        % (block, expected, got))
    if isinstance(buf, memoryview):
        buf = bytes(buf)
    env = {}
    i = start
    n = len(buf)
    # parsed in place: a copy of the environment would double the heap it needs
    while i < n and buf[i] != 0:
        z = buf.find(b"\x00", i)
        if z < 0:
            raise FwupError("Invalid U-boot environment")
        eq = buf.find(b"=", i, z)
        if eq < 0:
            raise FwupError("Invalid U-boot environment")
        name, value = bytes(buf[i:eq]), bytes(buf[eq + 1:z])
        if raw:
            env[name] = value
        else:
            try:
                env[str(name, "utf-8")] = str(value, "utf-8")
            except UnicodeError:
                raise FwupError("U-boot environment (block %d) holds non-UTF-8 text at byte %d"
                                % (block, i))
        i = z + 1
    return env


def encode(env, size, redundant=False, flags=0):
    """Encode a dict (str or bytes) into a ``size``-byte environment image."""
    out = bytearray(size)
    ff = b"\xff" * 64
    for i in range(0, size, 64):  # 0xFF fill without a second size-long buffer
        out[i:i + 64] = ff[:size - i]
    start = 5 if redundant else 4
    if redundant:
        out[4] = flags & 0xFF
    p = start
    items = sorted((_b(k), _b(v)) for k, v in env.items())
    for name, value in items:
        if not name or b"\x00" in name or b"=" in name or b"\x00" in value:
            raise FwupError("Invalid U-boot variable %r=%r (empty name, '=' in the name or a NUL)"
                            % (bytes(name[:32]), bytes(value[:32])))
        n = len(name) + 1 + len(value)
        if p + n >= size - 2:
            raise FwupError("Not enough room in U-boot environment")
        out[p:p + len(name)] = name
        out[p + len(name)] = 0x3D
        out[p + len(name) + 1:p + n] = value
        out[p + n] = 0
        p += n + 1
    if p >= size:
        raise FwupError("Not enough room in U-boot environment")
    out[p] = 0
    struct.pack_into("<I", out, 0, binascii.crc32(memoryview(out)[start:]) & 0xFFFFFFFF)
    return out


def choose(buf1, buf2, block1=0, block2=0):
    """Pick the current copy of a redundant environment (fwup's rules, spec 7.2).

    Returns ``(env_raw, flags, write_primary, write_redund)``: the decoded pairs (bytes), the
    flag byte of the copy used, and which copies the next write must go to. Raises the
    decode error when neither copy is valid.
    """
    return choose_read(lambda: buf1, lambda: buf2, buf1[4], buf2[4], block1, block2)


def choose_read(read1, read2, f1, f2, block1=0, block2=0):
    """``choose`` with each copy read only when it is decoded (one environment in memory):
    ``read1()``/``read2()`` return the copies, ``f1``/``f2`` are their flag bytes."""
    delta = (f2 - f1) & 0xFF
    if delta == 0 or delta >= 128:
        first, second = (read1, block1, f1), (read2, block2, f2)
        primary_first = True
    else:
        first, second = (read2, block2, f2), (read1, block1, f1)
        primary_first = False
    try:
        env = decode(first[0](), True, first[1], True)
        # the next write goes to the other copy
        return env, first[2], not primary_first, primary_first
    except FwupError:
        pass
    env = decode(second[0](), True, second[1], True)
    # the first copy was bad: rewrite it (and the second too if it failed, handled above)
    return env, second[2], primary_first, not primary_first
