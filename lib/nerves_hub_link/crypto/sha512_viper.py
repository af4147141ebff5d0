"""The viper SHA-512 for ``sha512`` (loaded only on heaps of at least ``sha512.SMALL_HEAP``).

``_Sha512ViperBase`` (``Sha512Plain`` with the state - H, W and K - as 32-bit word pairs)
``build(wide)``, which compiles ``sha512_src``'s source, and ``make(name, fn)``. Largest buffers: the 1344-byte
state, a 128-byte block.
"""

import struct

from nerves_hub_link.crypto.sha512 import IV, K, Sha512Plain

# State words (32-bit, (lo, hi) pairs): H 0..15, W 16..175, K 176..335.
_ST_WORDS = 336


def _template_state():
    st = bytearray(4 * _ST_WORDS)
    for i in range(8):
        struct.pack_into("<II", st, 8 * i, IV[i] & 0xFFFFFFFF, IV[i] >> 32)
    for i in range(80):
        struct.pack_into("<II", st, 4 * 176 + 8 * i, K[i] & 0xFFFFFFFF, K[i] >> 32)
    return st


class _Sha512ViperBase(Sha512Plain):
    """``Sha512Plain``'s streaming with the state as 32-bit words and compiled ``_blocks``."""

    _blocks = None

    def _state(self):
        from nerves_hub_link.crypto import sha512  # its _TEMPLATE (tests may replace it)

        return bytearray(sha512._TEMPLATE)

    def _out(self):
        w = struct.unpack_from("<16I", self._h, 0)
        return struct.pack(">16I", *[w[i ^ 1] for i in range(16)])


def build(wide):
    """Compile the viper ``blocks`` (64-bit-carry code when ``wide``); None without viper."""
    from nerves_hub_link.crypto import _emit, sha512_src

    src = sha512_src._source_for(wide)
    sha512_src = None  # noqa: F841
    _emit.unload("nerves_hub_link.crypto.sha512_src")
    return _emit.build(src, "blocks")


def make(name, fn):
    """A viper SHA-512 class around the compiled ``blocks`` *fn*, or None when *fn* is None."""
    if fn is None:
        return None
    return type(name, (_Sha512ViperBase,), {"_blocks": staticmethod(fn)})
