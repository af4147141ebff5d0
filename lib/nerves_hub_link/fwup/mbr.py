"""MBR encode (``mbr_write``) and partition lookup (``require-partition-offset``).

Only the four primary partitions are supported; OSIP headers and extended partitions
(partitions 4+) raise ``FwupError``. Largest buffer: the 512-byte sector.
"""

import struct

from nerves_hub_link.errors import ArchiveError, FwupError
from nerves_hub_link.fwup.num import to_int

_CHS_MAX = 63 * 255 * 1023


def _chs(lba):
    if lba > _CHS_MAX:
        return b"\x00\x00\x00"
    c = lba // (63 * 255)
    h = (lba // 63) % 255
    s = lba % 63 + 1
    return bytes([h, ((c & 0x300) >> 2) | s, c & 0xFF])


def _bool(v):
    return v in ("true", "yes", "on", "1", True)


def encode(section, device_blocks=0):
    """Build the 512-byte MBR from a meta.conf ``mbr`` ``Section``."""
    o = section.options()
    name = section.title
    if _bool(o.get("include-osip", "false")):
        raise FwupError("mbr_write: OSIP headers are not supported (mbr '%s')" % name)
    out = bytearray(512)
    code = o.get("bootstrap-code")
    if code:
        try:
            raw = bytes.fromhex(code)
        except ValueError:
            raise ArchiveError("mbr '%s': bootstrap-code is not hex" % name)
        if len(raw) != 440:
            raise ArchiveError("mbr '%s': bootstrap-code must be 440 bytes, got %d" % (name, len(raw)))
        out[0:440] = raw
    struct.pack_into("<I", out, 440, to_int(o.get("signature", "0")) & 0xFFFFFFFF)
    parts = {}
    for p in section.sections("partition"):
        idx = to_int(p.title or "")
        if idx < 0 or idx > 3:
            raise FwupError("mbr '%s': partition %s is not supported (only primary 0-3)"
                            % (name, p.title))
        parts[idx] = p.options()
    for idx in range(4):
        po = parts.get(idx)
        if po is None:
            continue
        start = to_int(po.get("block-offset", "0"))
        count = to_int(po.get("block-count", "0"))
        ptype = to_int(po.get("type", "0"))
        if _bool(po.get("expand", "false")) and device_blocks > start + count:
            count = device_blocks - start
        if start < 0 or count < 0 or start > 0xFFFFFFFF or count > 0xFFFFFFFF:
            raise ArchiveError("mbr '%s': partition %d offset/count out of range" % (name, idx))
        off = 446 + 16 * idx
        if ptype:
            out[off] = 0x80 if _bool(po.get("boot", "false")) else 0
            out[off + 1:off + 4] = _chs(start)
            out[off + 4] = ptype & 0xFF
            out[off + 5:off + 8] = _chs(start + count - 1 if count else start)
        struct.pack_into("<II", out, off + 8, start, count)
    out[510] = 0x55
    out[511] = 0xAA
    return out


def partition_offset(sector, index):
    """Start LBA of primary partition ``index`` or None when the sector is not an MBR."""
    if len(sector) < 512 or sector[510] != 0x55 or sector[511] != 0xAA or not 0 <= index <= 3:
        return None
    return struct.unpack("<I", bytes(sector[446 + 16 * index + 8:446 + 16 * index + 12]))[0]
