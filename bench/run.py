"""`make bench`: run every bench/bench_*.py, print their tables, save JSON under bench/results/.

Each benchmark module has a `main()` that prints a markdown table and returns a dict of numbers.
Run one alone with `python bench/run.py fwup_apply`.
"""

import importlib.util
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def load(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv):
    os.chdir(os.path.dirname(HERE))
    names = sorted(f for f in os.listdir(HERE) if f.startswith("bench_") and f.endswith(".py"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    os.makedirs(RESULTS, exist_ok=True)
    failed = 0
    for n in names:
        print("\n## %s\n" % n[6:-3])
        t0 = time.monotonic()
        try:
            numbers = load(os.path.join(HERE, n)).main()
        except Exception as e:  # one broken benchmark must not hide the others
            failed += 1
            print("benchmark failed: %s: %s" % (type(e).__name__, e))
            continue
        record = {
            "benchmark": n[6:-3],
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.platform(),
            "python": sys.version.split()[0],
            "seconds": round(time.monotonic() - t0, 2),
            "results": numbers,
        }
        with open(os.path.join(RESULTS, n[6:-3] + ".json"), "w") as f:
            json.dump(record, f, indent=1, sort_keys=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
