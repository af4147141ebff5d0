"""CPython raw inflate for ``zipstream`` (zlib), kept apart so MicroPython never loads it.
Largest buffer: one inflate output chunk (``max_chunk``).
"""

import zlib

from nerves_hub_link.fwup.zipstream import zerr


class ZlibInflater:
    """CPython raw inflate: exactly libarchive's chunking."""

    def __init__(self, max_chunk):
        self.d = zlib.decompressobj(-15)
        self.max = max_chunk
        self.eof = False

    def inflate(self, inp):
        """Return (output, bytes of inp used)."""
        try:
            out = self.d.decompress(inp, self.max)
        except zlib.error as e:
            msg = str(e)
            code = -3
            if msg.startswith("Error "):
                try:
                    code = int(msg[6:].split(" ")[0])
                except ValueError:
                    pass
            raise zerr(code)
        if self.d.eof:
            self.eof = True
            return out, len(inp) - len(self.d.unused_data)
        return out, len(inp) - len(self.d.unconsumed_tail)

    def unused(self):
        return b""

    def drain(self):
        raise zerr(-5)
