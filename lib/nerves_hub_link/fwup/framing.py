"""fwup ``--framing`` output packets (spec 8.2): ``frame(type, code, text)`` builds one;
``decode_frames`` splits them (tests). Framed input is read by ``cli_apply``. Largest buffer:
one packet.
"""

import struct

from nerves_hub_link.errors import FwupError


def frame(ftype, code, text=""):
    """One ``--framing`` output packet."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    return struct.pack(">I", 4 + len(text)) + ftype.encode() + struct.pack(">H", code) + text


def decode_frames(data):
    """Split fwup output packets into ``[(type, code, text_bytes)]`` (for tests/tools)."""
    out = []
    i = 0
    while i + 8 <= len(data):
        n = struct.unpack(">I", data[i:i + 4])[0]
        out.append((str(data[i + 4:i + 6], "ascii"), struct.unpack(">H", data[i + 6:i + 8])[0],
                    bytes(data[i + 8:i + 4 + n])))
        i += 4 + n
    if i != len(data):
        raise FwupError("truncated frame at byte %d of %d" % (i, len(data)))
    return out
