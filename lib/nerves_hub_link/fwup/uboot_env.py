"""U-Boot environment codec (``mkenvimage`` layout, plain and redundant), as fwup writes it.

Layout: CRC-32 (LE) of the data area, then (redundant only) a flag byte, then
``name=value\\0...`` and one more ``\\0``, padded with ``0xFF`` to the environment size.

API::

    decode(buf, redundant=False, block=0, raw=False) -> dict   # str, or bytes if raw
    encode(env, size, redundant=False, flags=0) -> bytearray    # pairs sorted by name
    choose(buf1, buf2, block1, block2) -> (env_raw, flags, write_primary, write_redund)

and the same on a device, ``PIECE`` bytes at a time (no buffer as large as the environment,
which a fragmented small heap may not have): ``decode_from(read, size, ...)``,
``encode_to(write, env, size, ...)``, ``choose_read((read1, size1), (read2, size2), ...)``
with ``read(offset, n) -> bytes`` and ``write(offset, data)`` relative to the copy's start.

Errors raise ``FwupError`` with fwup's texts.
"""

import binascii
import struct

from nerves_hub_link.errors import FwupError

PIECE = 512


def _b(s):
    return s if isinstance(s, (bytes, bytearray)) else s.encode("utf-8")


def _reader(buf):
    mv = memoryview(buf)
    return lambda off, n: mv[off:off + n]


def decode(buf, redundant=False, block=0, raw=False):
    """Check the CRC and parse the pairs of one environment copy."""
    return decode_from(_reader(buf), len(buf), redundant, block, raw)


def decode_from(read, size, redundant=False, block=0, raw=False):
    """``decode`` of the copy that ``read(offset, n)`` returns, ``PIECE`` bytes at a time."""
    start = 5 if redundant else 4
    if size < start + 1:
        raise FwupError("Invalid U-boot environment")
    expected = struct.unpack("<I", bytes(read(0, 4)))[0]
    # two passes over the pieces: the CRC first, so a bad copy (blank flash is all 0xFF, one
    # endless "pair") is refused before any pair is collected
    got = 0
    for pos in range(start, size, PIECE):
        got = binascii.crc32(read(pos, min(PIECE, size - pos)), got)
    got &= 0xFFFFFFFF
    if expected != got:
        raise FwupError("U-boot environment (block %d) CRC32 mismatch (expected 0x%08x; got 0x%08x)"
                        % (block, expected, got))
    env = {}
    pair = bytearray()  # the pair being read (it may span pieces)
    at = start  # where it starts
    for pos in range(start, size, PIECE):
        chunk = bytes(read(pos, min(PIECE, size - pos)))
        i = 0
        while i < len(chunk):
            if not pair and chunk[i] == 0:
                return env  # the empty pair ends the list
            z = chunk.find(b"\x00", i)
            if z < 0:
                pair += chunk[i:]
                break
            pair += chunk[i:z]
            _pair(env, pair, at, block, raw)
            pair = bytearray()
            i = z + 1
            at = pos + i
    if pair:
        raise FwupError("Invalid U-boot environment")
    return env


def _pair(env, pair, at, block, raw):
    eq = pair.find(b"=")
    if eq < 0:
        raise FwupError("Invalid U-boot environment")
    name, value = bytes(pair[:eq]), bytes(pair[eq + 1:])
    if raw:
        env[name] = value
        return
    try:
        env[str(name, "utf-8")] = str(value, "utf-8")
    except UnicodeError:
        raise FwupError("U-boot environment (block %d) holds non-UTF-8 text at byte %d"
                        % (block, at))


def encode(env, size, redundant=False, flags=0):
    """Encode a dict (str or bytes) into a ``size``-byte environment image."""
    out = bytearray(size)

    def write(off, data):
        out[off:off + len(data)] = data

    encode_to(write, env, size, redundant, flags)
    return out


def encode_to(write, env, size, redundant=False, flags=0):
    """``encode`` through ``write(offset, data)``, ``PIECE`` bytes at a time (the last piece
    may be shorter when ``size`` is not a multiple). Nothing is written if it raises."""
    start = 5 if redundant else 4
    items = _checked(env, size, start)
    crc = 0
    for part in _area(items, size, start):
        crc = binascii.crc32(part, crc)
    head = struct.pack("<I", crc & 0xFFFFFFFF)
    if redundant:
        head += bytes([flags & 0xFF])
    buf = bytearray(head)
    off = 0
    for part in _area(items, size, start):
        buf += part
        while len(buf) >= PIECE:
            write(off, bytes(buf[:PIECE]))
            buf = buf[PIECE:]
            off += PIECE
    if buf:
        write(off, bytes(buf))


def _checked(env, size, start):
    """The pairs sorted by name, each checked, and checked to fit (fwup's limits)."""
    items = sorted((_b(k), _b(v)) for k, v in env.items())
    p = start
    for name, value in items:
        if not name or b"\x00" in name or b"=" in name or b"\x00" in value:
            raise FwupError("Invalid U-boot variable %r=%r (empty name, '=' in the name or a NUL)"
                            % (bytes(name[:32]), bytes(value[:32])))
        n = len(name) + 1 + len(value)
        if p + n >= size - 2:
            raise FwupError("Not enough room in U-boot environment")
        p += n + 1
    if p >= size:
        raise FwupError("Not enough room in U-boot environment")
    return items


def _area(items, size, start):
    """The data area in parts: each ``name=value\\0``, the closing ``\\0``, 0xFF to ``size``."""
    p = start
    for name, value in items:
        part = name + b"=" + value + b"\x00"
        p += len(part)
        yield part
    yield b"\x00"
    p += 1
    ff = b"\xff" * PIECE
    while p < size:
        k = min(PIECE, size - p)
        yield ff if k == PIECE else ff[:k]
        p += k


def choose(buf1, buf2, block1=0, block2=0):
    """Pick the current copy of a redundant environment (fwup's rules, spec 7.2).

    Returns ``(env_raw, flags, write_primary, write_redund)``: the decoded pairs (bytes), the
    flag byte of the copy used, and which copies the next write must go to. Raises the
    decode error when neither copy is valid.
    """
    return choose_read((_reader(buf1), len(buf1)), (_reader(buf2), len(buf2)), block1, block2)


def choose_read(copy1, copy2, block1=0, block2=0):
    """``choose`` with each copy given as ``(read, size)`` and read ``PIECE`` bytes at a time."""
    f1 = bytes(copy1[0](4, 1))[0]
    f2 = bytes(copy2[0](4, 1))[0]
    delta = (f2 - f1) & 0xFF
    if delta == 0 or delta >= 128:
        first, second = (copy1, block1, f1), (copy2, block2, f2)
        primary_first = True
    else:
        first, second = (copy2, block2, f2), (copy1, block1, f1)
        primary_first = False
    try:
        env = decode_from(first[0][0], first[0][1], True, first[1], True)
        # the next write goes to the other copy
        return env, first[2], not primary_first, primary_first
    except FwupError:
        pass
    env = decode_from(second[0][0], second[0][1], True, second[1], True)
    # the first copy was bad: rewrite it (and the second too if it failed, handled above)
    return env, second[2], primary_first, not primary_first
