"""Helpers for the board tests (both interpreters): scratch paths and fake app images."""

import sys

from nerves_hub_link.fsutil import makedirs, rmtree  # noqa: F401  (re-exported)


def tmpdir(name=""):
    """``build/tmp_boards/<interpreter>[/name]``, created if missing (relative to the repo root)."""
    path = "build/tmp_boards/" + sys.implementation.name
    return makedirs(path + "/" + name if name else path)


def image(n, seed):
    """An ESP32 app image the esp32 double accepts: 0xE9 magic, 4 segments, then noise."""
    b = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        b[i] = x >> 16 & 0xFF
    b[0] = 0xE9
    b[1] = 4
    return bytes(b)
