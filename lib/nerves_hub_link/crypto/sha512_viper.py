"""The viper SHA-512 for ``sha512`` (loaded only on heaps of at least ``sha512.SMALL_HEAP``).

``_Sha512ViperBase`` (state: H, W and K as 32-bit word pairs) and ``build(wide)``, which
compiles ``sha512_src``'s source. Largest buffers: the 1344-byte state, a 128-byte block.
"""

import struct

from nerves_hub_link.crypto import _emit
from nerves_hub_link.crypto.sha512 import IV, K
from nerves_hub_link.errors import CryptoError

# State words (32-bit, (lo, hi) pairs): H 0..15, W 16..175, K 176..335.
_ST_WORDS = 336


def _template_state():
    st = bytearray(4 * _ST_WORDS)
    for i in range(8):
        struct.pack_into("<II", st, 8 * i, IV[i] & 0xFFFFFFFF, IV[i] >> 32)
    for i in range(80):
        struct.pack_into("<II", st, 4 * 176 + 8 * i, K[i] & 0xFFFFFFFF, K[i] >> 32)
    return st


class _Sha512ViperBase:
    digest_size = 64
    block_size = 128
    _blocks = None

    def __init__(self, data=None):
        from nerves_hub_link.crypto import sha512  # its _TEMPLATE (tests may replace it)

        self._st = bytearray(sha512._TEMPLATE)
        self._buf = bytearray(128)
        self._n = 0
        self._len = 0
        self._done = False
        if data:
            self.update(data)

    def update(self, data):
        if self._done:
            raise CryptoError("SHA-512: update() after digest()")
        n = len(data)
        self._len += n
        pos = 0
        if self._n:
            take = min(128 - self._n, n)
            self._buf[self._n:self._n + take] = memoryview(data)[:take]
            self._n += take
            if self._n < 128:
                return
            self._blocks(self._st, self._buf, 0, 1)
            self._n = 0
            pos = take
        full = (n - pos) >> 7
        if full:
            self._blocks(self._st, data, pos, full)
            pos += full << 7
        if pos < n:
            self._buf[0:n - pos] = memoryview(data)[pos:]
            self._n = n - pos

    def digest(self):
        if self._done:
            raise CryptoError("SHA-512: digest() called twice")
        bits = self._len * 8
        pad = 111 - self._n if self._n < 112 else 239 - self._n
        self.update(b"\x80" + bytes(pad) + bits.to_bytes(16, "big"))
        self._done = True
        w = struct.unpack_from("<16I", self._st, 0)
        return struct.pack(">16I", *[w[i ^ 1] for i in range(16)])


def build(wide):
    """Compile the viper ``blocks`` (64-bit-carry code when ``wide``); None without viper."""
    from nerves_hub_link.crypto import sha512_src

    src = sha512_src._source_for(wide)
    sha512_src = None  # noqa: F841
    _emit.unload("nerves_hub_link.crypto.sha512_src")
    return _emit.build(src, "blocks")


def make(name, wide):
    """A viper SHA-512 class, or None."""
    fn = build(wide)
    if fn is None:
        return None
    return type(name, (_Sha512ViperBase,), {"_blocks": staticmethod(fn)})
