"""Compile every .py under the given trees with mpy-cross; fail on the first error list."""

import argparse
import os
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mpy-cross", default="mpy-cross")
    ap.add_argument("--arch", default=None, help="e.g. xtensawin, armv6m, armv7m")
    ap.add_argument("trees", nargs="+")
    a = ap.parse_args()
    fails, n = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for tree in a.trees:
            for dp, _, files in os.walk(tree):
                for f in sorted(files):
                    if not f.endswith(".py"):
                        continue
                    src = os.path.join(dp, f)
                    cmd = [a.mpy_cross, "-o", os.path.join(tmp, "x.mpy")]
                    if a.arch:
                        cmd.append("-march=" + a.arch)
                    r = subprocess.run(cmd + [src], capture_output=True, text=True)
                    n += 1
                    if r.returncode:
                        fails.append("%s: %s" % (src, (r.stderr or r.stdout).strip()))
    for f in fails:
        print(f)
    print("mpy-cross: %d files, %d failed" % (n, len(fails)))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
