"""Build viper functions from generated source at import time (MicroPython only).

Viper code cannot live in a plain .py file here: mpy-cross without ``-march``
refuses it, and CPython cannot parse it. So the hash modules generate the source
text and ``build`` compiles it with ``exec`` when the viper emitter exists.

64-bit words are (lo, hi) pairs of 32-bit machine words. ``wide`` code may use
the carry out of bit 31 (``lo >> 32``) and is only chosen when viper ints are
64-bit (unix x64); the narrow code masks with ``M`` and computes carries
bitwise, so it is correct with 32-bit viper words (ESP32, RP2) and 64-bit ones.
"""

import sys

WIDE = sys.maxsize > (1 << 32)  # viper ints are machine words: 64-bit on this host?
LITTLE = sys.byteorder == "little"


def add64(out, ind, a, b, wide):
    """Lines for (a.l, a.h) += (b.l, b.h); a, b are name prefixes; uses temp ``lo``."""
    if wide:
        out.append("%slo = %sl + %sl" % (ind, a, b))
        out.append("%s%sh = (%sh + %sh + (lo >> 32)) & M" % (ind, a, a, b))
        out.append("%s%sl = lo & M" % (ind, a))
    else:
        out.append("%slo = (%sl + %sl) & M" % (ind, a, b))
        out.append("%s%sh = (%sh + %sh + (((%sl & %sl) | ((%sl | %sl) & ~lo)) >> 31)) & M"
                   % (ind, a, a, b, a, b, a, b))
        out.append("%s%sl = lo" % (ind, a))


def build(source, name):
    """Compile ``source`` and return its function ``name``, or None without viper."""
    if sys.implementation.name != "micropython" or not LITTLE:
        return None
    ns = {}
    try:
        exec(source, ns)
    except Exception:  # no emitter (SyntaxError), no exec, no RAM: plain Python is used
        return None
    return ns.get(name)


USABLE = sys.implementation.name == "micropython" and LITTLE


def heap_size():
    """Total GC heap in bytes (MicroPython), for choosing code that fits while compiling."""
    import gc

    return gc.mem_alloc() + gc.mem_free()


def unload(name):
    """MicroPython: forget a module used once (a source generator) so the GC frees it."""
    if sys.implementation.name != "micropython":
        return
    if sys.modules.pop(name, None) is not None:
        i = name.rfind(".")
        try:
            delattr(sys.modules.get(name[:i]), name[i + 1:])
        except (AttributeError, TypeError):
            pass
