"""F08 (1 MiB) through the MicroPython CLI with the library compiled to .mpy, as boards run it
(``nhl deploy`` copies mpy-cross output): the smallest heap measured is in docs/fwup-heap.md."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
MICROPYTHON = os.path.join(BIN, "micropython")
MPY_CROSS = os.path.join(BIN, "mpy-cross")
F08 = os.path.join(ROOT, "tests", "fixtures", "fwup", "F08_large_streaming")
MPY_HEAP = "156K"  # smallest that works on the x64 unix port: 148K (see docs/fwup-heap.md)


def _compile_lib(dest):
    lib = os.path.join(ROOT, "lib")
    for top, _dirs, files in os.walk(lib):
        for name in files:
            if not name.endswith(".py"):
                continue
            src = os.path.join(top, name)
            out = os.path.join(dest, os.path.relpath(src, lib))[:-3] + ".mpy"
            os.makedirs(os.path.dirname(out), exist_ok=True)
            # -s: the module's path as the source name, as ``nhl deploy`` compiles it (mpbuild)
            subprocess.run([MPY_CROSS, "-o", out, "-s", os.path.relpath(src, lib), src],
                           check=True, capture_output=True)


def test_micropython_mpy_library_applies_f08_on_small_heap(tmp_path):
    if not (os.path.exists(MICROPYTHON) and os.path.exists(MPY_CROSS)):
        pytest.skip("micropython or mpy-cross not installed")
    mpylib = tmp_path / "mpylib"
    _compile_lib(str(mpylib))
    out = tmp_path / "f08.img"
    env = dict(os.environ, MICROPYPATH="%s:%s" % (mpylib, os.path.join(ROOT, ".frozen")))
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=" + MPY_HEAP, "-m", "nerves_hub_link.fwup",
                        "-a", "-q", "-d", str(out), "-t", "complete",
                        "-p", "../keys/fwup-key.pub", "-i", "signed.fw"],
                       cwd=F08, env=env, capture_output=True, timeout=300)
    assert r.returncode == 0, (r.stdout[-500:], r.stderr[-2000:])
    with open(os.path.join(F08, "s1_complete_file.img"), "rb") as f:
        assert out.read_bytes() == f.read()
