"""Run the generated 32-bit-word viper code on CPython with 32-bit machine-word semantics.

The unix port has 64-bit viper words, so it cannot show a bug that only appears when sums wrap
at 2**32 (ESP32, RP2). Here the narrow source is executed with ``uint`` values that wrap at
32 bits, ``>>`` on them logical, and raw ``ptr32`` loads signed, as on a 32-bit MCU.
"""

import hashlib
import random
import struct

from nerves_hub_link.crypto import blake2b, blake2b_src, sha512, sha512_src, sha512_viper

M32 = 0xFFFFFFFF


class U32:
    """A viper ``uint`` on a 32-bit machine."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = int(v) & M32

    def _op(fn):  # noqa: N805
        def f(self, o):
            return U32(fn(self.v, o.v if isinstance(o, U32) else o))

        return f

    __add__ = __radd__ = _op(lambda a, b: a + b)
    __and__ = __rand__ = _op(lambda a, b: a & b)
    __or__ = __ror__ = _op(lambda a, b: a | b)
    __xor__ = __rxor__ = _op(lambda a, b: a ^ b)
    __lshift__ = _op(lambda a, b: a << b)
    __rshift__ = _op(lambda a, b: a >> b)

    def __invert__(self):
        return U32(~self.v)

    def __int__(self):
        return self.v


class Ptr32:
    def __init__(self, buf):
        self.b = buf

    def __getitem__(self, i):
        (v,) = struct.unpack_from("<i", self.b, 4 * i)  # raw loads are signed machine ints
        return v

    def __setitem__(self, i, v):
        struct.pack_into("<I", self.b, 4 * i, int(v) & M32)


class Ptr8:
    def __init__(self, buf):
        self.b = buf.b if isinstance(buf, Ptr32) else buf

    def __getitem__(self, i):
        return self.b[i]


def _run_blocks(source):
    ns = {"micropython": type("mp", (), {"viper": staticmethod(lambda f: f)}),
          "ptr32": object, "ptr8": object, "uint": U32}
    exec(source, ns)
    fn = ns["blocks"]

    def blocks(st, data, off, n):
        ns["ptr8"] = Ptr8
        return fn(Ptr32(st), Ptr8(bytes(data)), off, n)

    return blocks


def _digest(cls, data, chunk, *args):
    h = cls(*args)
    for i in range(0, len(data), chunk):
        h.update(data[i:i + chunk])
    return h.digest()


def test_blake2b_32bit_viper_code(monkeypatch):
    monkeypatch.setattr(blake2b, "_TEMPLATE", blake2b_src._template_state())

    for compact in (True, False):  # boards run the compact code

        class Emulated(blake2b._Blake2bBase):
            _blocks = staticmethod(_run_blocks(blake2b_src._viper_source(False, compact)))

        rnd = random.Random(9)
        # All-0xff data drives every 32-bit sum through its carry.
        for data in (b"", b"abc", b"\xff" * 300, rnd.randbytes(129), rnd.randbytes(700)):
            for size in (32, 64):
                assert _digest(Emulated, data, 100, size) == hashlib.blake2b(
                    data, digest_size=size).digest(), (len(data), size, compact)


def test_sha512_32bit_viper_code(monkeypatch):
    monkeypatch.setattr(sha512, "_TEMPLATE", sha512_viper._template_state())

    class Emulated(sha512_viper._Sha512ViperBase):
        _blocks = staticmethod(_run_blocks(sha512_src._source_for(False)))

    rnd = random.Random(10)
    for data in (b"", b"abc", b"\xff" * 300, rnd.randbytes(111), rnd.randbytes(600)):
        assert _digest(Emulated, data, 100) == hashlib.sha512(data).digest(), len(data)
