"""BLAKE2b (RFC 7693), pure Python, streaming.

``Blake2b(digest_size=64, key=b"")`` has ``update(data)`` and ``digest()`` (once).
``Blake2b`` is the fastest variant on this interpreter: ``Blake2bViper`` on
MicroPython with the viper emitter (64-bit words as 32-bit halves): prebuilt as native code
in ``blake2b_native`` when the build made one (``mpy-cross -march``, see ``native_source``
in ``blake2b_src``), else compiled at import from source made by ``blake2b_src``, about
3 ms on x64 (``Blake2bViperSmall``, a smaller and slower code, when the heap is under
``SMALL_HEAP``); else ``Blake2bPlain`` (``blake2b_plain``: Python ints; bigints on
MicroPython). Largest buffers: a 128-byte block and a 752-byte viper state.
"""

import struct

from nerves_hub_link.errors import CryptoError

_M64 = 0xFFFFFFFFFFFFFFFF

IV = (
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
)

SIGMA = (
    b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
    b"\x0e\x0a\x04\x08\x09\x0f\x0d\x06\x01\x0c\x00\x02\x0b\x07\x05\x03"
    b"\x0b\x08\x0c\x00\x05\x02\x0f\x0d\x0a\x0e\x03\x06\x07\x01\x09\x04"
    b"\x07\x09\x03\x01\x0d\x0c\x0b\x0e\x02\x06\x05\x0a\x04\x00\x0f\x08"
    b"\x09\x00\x05\x07\x02\x04\x0a\x0f\x0e\x01\x0b\x0c\x06\x08\x03\x0d"
    b"\x02\x0c\x06\x0a\x00\x0b\x08\x03\x04\x0d\x07\x05\x0f\x0e\x01\x09"
    b"\x0c\x05\x01\x0f\x0e\x0d\x04\x0a\x00\x07\x06\x03\x09\x02\x08\x0b"
    b"\x0d\x0b\x07\x0e\x0c\x01\x03\x09\x05\x00\x0f\x04\x08\x06\x02\x0a"
    b"\x06\x0f\x0e\x09\x0b\x03\x00\x08\x0c\x02\x0d\x07\x01\x04\x0a\x05"
    b"\x0a\x02\x08\x04\x07\x06\x01\x05\x0f\x0b\x09\x0e\x03\x0c\x0d\x00"
)


_G_IDX = (
    (0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
    (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14),
)


def check_params(digest_size, key):
    if not 1 <= digest_size <= 64:
        raise CryptoError("BLAKE2b digest_size must be 1..64, got %r" % (digest_size,))
    if len(key) > 64:
        raise CryptoError("BLAKE2b key must be at most 64 bytes, got %d" % len(key))


# -- viper variant --------------------------------------------------------------
# State words (32-bit): h 0..15, message 48..79, counter 80..81, final flag 82,
# counter increment 83, IV 84..99, sigma rows 0..11 as bytes at byte offset 400.
# The small variant keeps v at words 148..179 and the G index table as bytes at 720.
_ST_WORDS = 188
_SIGMA_AT = 400
_GIDX_AT = 720
SMALL_HEAP = 320 * 1024  # below this heap size boards compile the small-source variant


class _Blake2bBase:
    """Streaming BLAKE2b over ``_blocks(state, data, offset, nblocks)``, the last block kept
    for ``digest``. The state is the viper code's 32-bit words; ``Blake2bPlain`` replaces
    ``_state`` and ``_final``."""

    _blocks = None

    def __init__(self, digest_size=64, key=b""):
        check_params(digest_size, key)
        self.digest_size = digest_size
        self._st = self._state(0x01010000 ^ (len(key) << 8) ^ digest_size)
        self._buf = bytearray(128)
        self._n = 0
        self._done = False
        if key:
            self.update(key)
            self.update(bytes(128 - len(key)))

    def _state(self, param):
        st = bytearray(_TEMPLATE)
        struct.pack_into("<I", st, 0, (IV[0] & 0xFFFFFFFF) ^ param)
        return st

    def update(self, data):
        if self._done:
            raise CryptoError("BLAKE2b: update() after digest()")
        n = len(data)
        if not n:
            return
        blocks = self._blocks
        pos = 0
        if self._n:
            take = min(128 - self._n, n)
            self._buf[self._n:self._n + take] = memoryview(data)[:take]
            self._n += take
            if take == n:
                return  # a full buffer may be the last block: keep it
            blocks(self._st, self._buf, 0, 1)
            self._n = 0
            pos = take
        full = (n - pos - 1) >> 7  # keep at least one byte back for the final block
        if full:
            blocks(self._st, data, pos, full)
            pos += full << 7
        self._buf[0:n - pos] = memoryview(data)[pos:]
        self._n = n - pos

    def digest(self):
        if self._done:
            raise CryptoError("BLAKE2b: digest() called twice")
        self._done = True
        buf = self._buf
        for i in range(self._n, 128):
            buf[i] = 0
        return self._final(self._st, buf, self._n)

    def _final(self, st, buf, n):
        struct.pack_into("<II", st, 4 * 82, 0xFFFFFFFF, n)
        self._blocks(st, buf, 0, 1)
        return bytes(st[:self.digest_size])


_TEMPLATE = None
Blake2b = None
_extra = []


def _viper_class(name, fn):
    return type(name, (_Blake2bBase,), {"_blocks": staticmethod(fn)})


def _template_state():
    st = bytearray(4 * _ST_WORDS)
    for i in range(8):
        struct.pack_into("<II", st, 8 * i, IV[i] & 0xFFFFFFFF, IV[i] >> 32)
        struct.pack_into("<II", st, 4 * 84 + 8 * i, IV[i] & 0xFFFFFFFF, IV[i] >> 32)
    struct.pack_into("<I", st, 4 * 83, 128)
    st[_SIGMA_AT:_SIGMA_AT + 192] = SIGMA + SIGMA[:32]
    st[_GIDX_AT:_GIDX_AT + 32] = bytes([x for g in _G_IDX for x in g])
    return st


def _prebuilt():
    """``blocks`` from the native module a board build made, or None (no such module, or
    one built for another architecture)."""
    try:
        from nerves_hub_link.crypto.blake2b_native import blocks  # portable: ok (built)
    except (ImportError, ValueError):  # ValueError: .mpy for another architecture
        return None
    return blocks


def _setup():
    global _TEMPLATE, Blake2b
    fn = _prebuilt()
    if fn is not None:
        # native code, nothing to compile: the fast variant whatever the heap
        _TEMPLATE = _template_state()
        Blake2b = _viper_class("Blake2bViper", fn)
        return
    from nerves_hub_link.crypto import _emit, blake2b_src

    made = blake2b_src.setup(SMALL_HEAP)
    unload = _emit.unload
    blake2b_src = _emit = None  # noqa: F841 (drop the last references before unloading)
    # the generator and the emitter helpers are needed only while compiling
    unload("nerves_hub_link.crypto.blake2b_src")
    unload("nerves_hub_link.crypto._emit")
    if made is None:
        Blake2b = __getattr__("Blake2bPlain")
        return
    _TEMPLATE = made[2]
    Blake2b = _viper_class(made[0], made[1])


def implementations():
    """Every pure-Python BLAKE2b class usable here (for tests and benchmarks).

    With viper this also compiles the variants not chosen at import: ``Blake2bViper32``
    (the 32-bit-word code boards run, on a 64-bit host) and ``Blake2bViperSmall``.
    """
    plain = __getattr__("Blake2bPlain")
    if Blake2b is plain:
        return [plain]
    if not _extra:
        from nerves_hub_link.crypto import _emit, blake2b_src

        if _emit.WIDE:
            _extra.append(_viper_class("Blake2bViper32", blake2b_src.build("narrow")))
        if Blake2b.__name__ != "Blake2bViperSmall":
            _extra.append(_viper_class("Blake2bViperSmall", blake2b_src.build("small")))
    return [plain, Blake2b] + _extra


def __getattr__(name):
    # the plain class is a separate module, loaded only where it is used
    if name == "Blake2bPlain":
        from nerves_hub_link.crypto.blake2b_plain import Blake2bPlain

        return Blake2bPlain
    raise AttributeError(name)


_setup()
