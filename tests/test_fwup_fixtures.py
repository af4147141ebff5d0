"""Every apply step of the real fwup 1.16.0 fixtures, through our CLI, on CPython and MicroPython.

For each step: same arguments, environment and start image as the fixture; compare the exit
status, the output image (sha256), the ordered non-progress frames, and check that progress
rises monotonically and ends at 100 on success. On CPython the framed output must also be
byte-identical (progress included). Also ``-V``, ``-m`` and ``-l`` against the fixtures.
"""

import functools
import gzip
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from nerves_hub_link.fwup.framing import decode_frames

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FX = os.path.join(ROOT, "tests", "fixtures", "fwup")
PYTHON = sys.executable
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
RESULTS = json.load(open(os.path.join(FX, "results.json")))
STEPS = [(fx, st) for fx in RESULTS for st in fx["applies"]]
INTERPS = ["cpython", "micropython", "frozen"]
# A unix port built with the library frozen in, as board firmware is (`make test-frozen
# MICROPY_DIR=...` builds one from boards/unix/manifest.py). Every step fits in FROZEN_HEAP;
# the smallest heaps measured are in docs/fwup-heap.md.
FROZEN = os.environ.get("NHL_FROZEN_MICROPYTHON")
# every step fits in 96 KiB on a 32-bit build, as on boards (smallest measured: 92K), and in
# 128 KiB on x64 (108-112K); docs/fwup-heap.md
FROZEN_HEAP = {32: "96K", 64: "128K"}


@functools.cache
def frozen_bits():
    """Word size of the NHL_FROZEN_MICROPYTHON interpreter: 32 or 64."""
    r = subprocess.run([FROZEN, "-c", "import sys; print(sys.maxsize > 1 << 32)"],
                       capture_output=True, timeout=60)
    return 64 if r.stdout.strip() == b"True" else 32


def _cmd(interp, heap=None):
    if interp == "frozen":
        if not FROZEN:
            pytest.skip("NHL_FROZEN_MICROPYTHON is not set (make test-frozen MICROPY_DIR=...)")
        heap = heap or FROZEN_HEAP[frozen_bits()]
        return [FROZEN, "-X", "heapsize=" + heap, "-m", "nerves_hub_link.fwup"]
    if interp == "cpython":
        return [PYTHON, "-m", "nerves_hub_link.fwup"]
    if not os.path.exists(MICROPYTHON):
        pytest.skip("micropython not installed next to %s" % sys.executable)
    return [MICROPYTHON, "-X", "heapsize=4M", "-m", "nerves_hub_link.fwup"]


def _env(interp, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIX_")}
    env.update(extra or {})
    env["PYTHONPATH"] = os.path.join(ROOT, "lib") + os.pathsep + os.path.join(ROOT, "port_cpython")
    # frozen: nothing but the firmware's own modules, so no line of lib/ is loaded into the heap
    env["MICROPYPATH"] = ".frozen" if interp == "frozen" else os.path.join(ROOT, "lib") + ":.frozen"
    return env


def framed_stdin(data, packet=4096):
    out = bytearray()
    for i in range(0, len(data), packet):
        p = data[i:i + packet]
        out += struct.pack(">I", len(p)) + p
    out += struct.pack(">I", 0)
    return bytes(out)


def _copy_start(src, dst):
    if src.endswith(".gz"):
        with gzip.open(src, "rb") as f, open(dst, "wb") as g:
            shutil.copyfileobj(f, g)
    else:
        shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)


def run_step(interp, fx, st, tmp, heap=None):
    d = os.path.join(FX, fx["name"])
    out = os.path.join(tmp, "out.img")
    if st["start_image"]:
        src = os.path.join(d, st["start_image"])
        if not os.path.exists(src) and os.path.exists(src + ".gz"):
            src += ".gz"
        _copy_start(src, out)
    args = ["-a", "-F", "-d", out, "-t", st["task"]]
    if st["key"]:
        args += ["-p", "../keys/" + st["key"]]
    stdin = None
    if "-i -" in st["cmd"]:
        args += ["-i", "-"]
        with open(os.path.join(d, st["fw"]), "rb") as f:
            stdin = framed_stdin(f.read())
    else:
        args += ["-i", st["fw"]]
    r = subprocess.run(_cmd(interp, heap) + args, cwd=d, env=_env(interp, st["env"]), input=stdin,
                       capture_output=True, timeout=600)
    img = None
    if os.path.exists(out):
        with open(out, "rb") as f:
            img = f.read()
    return r, img


def _expected_frames(fx, st):
    with open(os.path.join(FX, fx["name"], st["framed"]), "rb") as f:
        return f.read()


def check_step(interp, fx, st, tmp, heap=None):
    r, img = run_step(interp, fx, st, tmp, heap)
    where = "%s %s/%s" % (interp, fx["name"], st["step"])
    assert r.returncode == st["rc"], (where, r.stdout[-300:], r.stderr[-2000:])
    assert img is not None, where
    assert len(img) == st["image"]["size"], (where, len(img))
    assert hashlib.sha256(img).hexdigest() == st["image"]["sha256"], where
    exp = _expected_frames(fx, st)
    got_f = decode_frames(r.stdout)
    exp_f = decode_frames(exp)
    assert [f for f in got_f if f[0] != "PR"] == [f for f in exp_f if f[0] != "PR"], where
    pr = [f[1] for f in got_f if f[0] == "PR"]
    assert pr and pr[0] == 0, where
    assert all(a < b for a, b in zip(pr, pr[1:], strict=False)), (where, pr)
    if st["rc"] == 0:
        assert pr[-1] == 100 and got_f[-1] == ("OK", 0, b""), where
    else:
        assert 100 not in pr and got_f[-1][0] == "ER", where
    if interp == "cpython":
        assert r.stdout == exp, (where, "framed output differs from fwup's")


@pytest.mark.parametrize("interp", INTERPS)
def test_fixture_apply_steps(interp, tmp_path):
    """All 57 apply steps; run in parallel so both interpreters stay well under a minute."""
    _cmd(interp)

    def one(i):
        fx, st = STEPS[i]
        tmp = tmp_path / ("%02d" % i)
        tmp.mkdir()
        check_step(interp, fx, st, str(tmp))
        return st["step"]

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as ex:
        done = list(ex.map(one, range(len(STEPS))))
    assert len(done) == len(STEPS) == 57


def _run(interp, args, cwd):
    return subprocess.run(_cmd(interp) + args, cwd=cwd, env=_env(interp), capture_output=True,
                          timeout=300)


@pytest.mark.parametrize("interp", INTERPS)
def test_metadata_and_task_list(interp):
    for fx in RESULTS:
        d = os.path.join(FX, fx["name"])
        with open(os.path.join(d, "metadata.txt"), "rb") as f:
            meta = f.read()
        with open(os.path.join(d, "tasks.txt"), "rb") as f:
            tasks = f.read()
        for fw in ("unsigned.fw", "signed.fw"):
            r = _run(interp, ["-m", "-i", fw], d)
            assert (r.returncode, r.stdout) == (0, meta), (interp, fx["name"], fw)
            r = _run(interp, ["-l", "-i", fw], d)
            assert (r.returncode, r.stdout) == (0, tasks), (interp, fx["name"], fw)
        r = _run(interp, ["-m", "-F", "-i", "signed.fw"], d)
        assert decode_frames(r.stdout) == [("OK", 0, meta)]


def _verify_table():
    """The ``fwup -V`` table of MANIFEST.md: (archive, key, rc, output)."""
    rows = []
    with open(os.path.join(FX, "MANIFEST.md")) as f:
        text = f.read()
    part = text.split("`fwup -V` (verify) results for every archive variant:")[1]
    for line in part.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].endswith(".fw"):
            rows.append((cells[0], None if cells[1] == "none" else cells[1], int(cells[2]),
                         cells[3]))
    return rows


VERIFY = _verify_table()


@pytest.mark.parametrize("interp", INTERPS)
def test_verify_table(interp):
    assert len(VERIFY) == 34
    d = os.path.join(FX, "N_negative")

    def one(row):
        fw, key, rc, text = row
        args = ["-V", "-i", fw] + (["-p", "../keys/" + key] if key else [])
        r = _run(interp, args, d)
        return row, r.returncode, r.stdout.decode("utf-8")

    with ThreadPoolExecutor(max_workers=8) as ex:
        for (fw, key, rc, text), got_rc, out in ex.map(one, VERIFY):
            assert (got_rc, out) == (rc, text + "\n"), (interp, fw, key)
