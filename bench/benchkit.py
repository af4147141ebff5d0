"""Shared scaffolding of the bench/bench_*.py scripts: the repo root, the MicroPython binary,
one script run on both interpreters, and the markdown table of per-interpreter metrics.

Scripts meant for both interpreters start with ``CLOCK`` (``ticks_us``/``ticks_diff`` on
CPython too, and ``best_us(fn, repeat)``) and print ``R <name> <number>`` lines.
"""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Prelude for scripts run on both interpreters (no CPython-only modules).
CLOCK = r'''
try:
    from time import ticks_us, ticks_diff
except ImportError:
    import time
    ticks_us = lambda: int(time.perf_counter() * 1000000)
    ticks_diff = lambda a, b: a - b

def best_us(fn, repeat=3):
    """Best of *repeat* runs, in microseconds (at least 1)."""
    best = None
    for _ in range(repeat):
        t0 = ticks_us()
        fn()
        dt = ticks_diff(ticks_us(), t0)
        best = dt if best is None or dt < best else best
    return max(1, best)

def ms(fn):
    """Best of 3 runs, in milliseconds (float)."""
    return best_us(fn) / 1000.0
'''


def micropython():
    """The MicroPython unix port: ``.venv/bin/micropython``, else one on PATH, else None."""
    venv = os.path.join(ROOT, ".venv", "bin", "micropython")
    return venv if os.path.exists(venv) else shutil.which("micropython")


def interpreters(files_path, frozen_path):
    """``[(label, binary, MICROPYPATH)]`` for heap measurements: the library in files, plus the
    library frozen in when ``NHL_FROZEN_MICROPYTHON`` names a unix port built with
    ``boards/unix/manifest.py`` (``make frozen-unix``), as board firmware carries it."""
    out = [("library in files", micropython(), files_path)]
    frozen = os.environ.get("NHL_FROZEN_MICROPYTHON")
    if frozen:
        out.append(("library frozen", frozen, frozen_path))
    return out


def run_script(script, interp, heap="8M", micropypath="lib:.frozen", timeout=600):
    """Run *script* (source text) from the repo root on ``"cpython"`` or ``"micropython"``;
    returns the ``subprocess.CompletedProcess`` (text output)."""
    if interp == "cpython":
        cmd = [sys.executable, "-c", script]
        env = dict(os.environ, PYTHONPATH="lib")
    else:
        cmd = [micropython(), "-X", "heapsize=" + heap, "-c", script]
        env = dict(os.environ, MICROPYPATH=micropypath)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout)


def parse_r(out):
    """``{name: float}`` from the ``R <name> <number>`` lines of a script's output."""
    res = {}
    for line in out.splitlines():
        if line.startswith("R "):
            _, k, v = line.split()
            res[k] = float(v)
    return res


def run_both(script, heap="8M", micropypath="lib:.frozen"):
    """``{"cpython": {...}, "micropython": {...}}`` of the ``R`` lines of *script*; the
    MicroPython entry only when the binary exists (its failure is printed, not raised)."""
    results = {"cpython": parse_r(run_script(script, "cpython", timeout=300).stdout)}
    if micropython():
        r = run_script(script, "micropython", heap, micropypath)
        results["micropython"] = parse_r(r.stdout)
        if not results["micropython"]:
            print("micropython run failed: %s" % (r.stdout + r.stderr)[-500:])
    return results


def metric_table(results):
    """Print one row per metric, one column per interpreter; returns
    ``{"<interp>_<metric>": value}``."""
    print("| metric | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for k in sorted(results["cpython"]):
        print("| %s | %s |" % (k, " | ".join("%.1f" % results[i].get(k, 0) for i in results)))
    flat = {}
    for interp, vals in results.items():
        for k, v in vals.items():
            flat["%s_%s" % (interp, k)] = v
    return flat
