"""Helpers for the board tests (both interpreters): scratch paths and fake app images."""

import sys


def makedirs(path):
    import os

    cur = "/" if path.startswith("/") else ""
    for part in path.split("/"):
        if not part:
            continue
        cur = cur + part if cur in ("", "/") else cur + "/" + part
        try:
            os.mkdir(cur)
        except OSError:
            pass
    return path


def tmpdir(name=""):
    """``build/tmp_boards/<interpreter>[/name]``, created if missing (relative to the repo root)."""
    path = "build/tmp_boards/" + sys.implementation.name
    return makedirs(path + "/" + name if name else path)


def rmtree(path):
    """Remove a directory tree, or a file; a missing path is fine."""
    import os

    try:
        names = os.listdir(path)
    except OSError:
        try:
            os.remove(path)  # a file (or nothing at all)
        except OSError:
            pass
        return
    for n in names:
        p = path + "/" + n
        try:
            os.remove(p)
        except OSError:
            rmtree(p)
    try:
        os.rmdir(path)
    except OSError:
        pass


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
