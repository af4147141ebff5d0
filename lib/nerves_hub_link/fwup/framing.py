"""fwup ``--framing`` packets (spec 8.2): ``frame(type, code, text)`` builds one output
packet; ``FrameDecoder`` splits framed input (4-byte big-endian length + payload, a zero
length ends the input); ``decode_frames`` splits output packets. Largest buffer: one packet.
"""

import struct

from nerves_hub_link.errors import FwupError


def frame(ftype, code, text=""):
    """One ``--framing`` output packet."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    return struct.pack(">I", 4 + len(text)) + ftype.encode() + struct.pack(">H", code) + text


class FrameDecoder:
    """Framed stdin: ``feed(data)`` returns the payload bytes found; ``ended`` after a 0 length."""

    def __init__(self):
        self.hdr = bytearray()
        self.left = 0
        self.ended = False

    def feed(self, data):
        out = []
        mv = memoryview(data)
        i = 0
        while i < len(mv) and not self.ended:
            if self.left:
                k = min(self.left, len(mv) - i)
                out.append(bytes(mv[i:i + k]))
                self.left -= k
                i += k
                continue
            k = min(4 - len(self.hdr), len(mv) - i)
            self.hdr.extend(mv[i:i + k])
            i += k
            if len(self.hdr) == 4:
                self.left = struct.unpack(">I", self.hdr)[0]
                self.hdr = bytearray()
                if self.left == 0:
                    self.ended = True
        return out

    def finish(self):
        if not self.ended and (self.left or self.hdr):
            raise FwupError("Received EOF even though framing indicated more bytes")


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
