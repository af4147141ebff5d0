"""Console throughput: upload receive (base64 decode + file append), send_file chunking
(read + base64 + JSON-ready payloads) and REPL keystroke/evaluation rate.

The same script runs on CPython and (when `.venv/bin/micropython` exists) the MicroPython
unix port in subprocesses. Prints a markdown table, returns a dict of numbers.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = r'''
import asyncio, binascii, os, sys
try:
    from time import ticks_us, ticks_diff
except ImportError:
    import time
    ticks_us = lambda: int(time.perf_counter() * 1000000)
    ticks_diff = lambda a, b: a - b
from nerves_hub_link import file_transfer as ft
from nerves_hub_link.repl import Repl

TMP = "build/bench_console_" + sys.implementation.name
SIZE = 200 * 1024
data = bytes(range(256)) * (SIZE // 256)
chunks = [binascii.b2a_base64(data[i:i + 1024])[:-1].decode() for i in range(0, SIZE, 1024)]

def ms(fn):
    best = None
    for _ in range(3):
        t0 = ticks_us()
        fn()
        dt = ticks_diff(ticks_us(), t0)
        best = dt if best is None or dt < best else best
    return max(1, best) / 1000.0

res = {}
def upload():
    r = ft.Receiver(TMP)
    r.start("b.bin")
    for c in chunks:
        r.data("b.bin", c)
    r.stop("b.bin")
t = ms(upload)
res["upload_receive_KiBps"] = SIZE / 1.024 / t

def send():
    n = [0]
    def push(e, p):
        n[0] += 1
        return "1"
    async def flush():
        pass
    asyncio.run(ft.send_file(TMP + "/b.bin", push, flush))
t = ms(send)
res["send_file_KiBps"] = SIZE / 1.024 / t

def repl():
    out = []
    r = Repl(out.append)
    for i in range(200):
        r.feed("x = %d * 3\r" % i)
        r.feed("x + 1\r")
t = ms(repl)
res["repl_lines_per_s"] = 400 * 1000 / t
os.remove(TMP + "/b.bin")
for k in sorted(res):
    print("R %s %.1f" % (k, res[k]))
'''


def _parse(out):
    res = {}
    for line in out.splitlines():
        if line.startswith("R "):
            _, k, v = line.split()
            res[k] = float(v)
    return res


def main():
    results = {}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                       cwd=ROOT, timeout=300, env=dict(os.environ, PYTHONPATH="lib"))
    results["cpython"] = _parse(r.stdout)
    mp = os.path.join(ROOT, ".venv", "bin", "micropython")
    if os.path.exists(mp):
        r = subprocess.run([mp, "-X", "heapsize=2M", "-c", SCRIPT], capture_output=True,
                           text=True, cwd=ROOT, timeout=600,
                           env=dict(os.environ, MICROPYPATH="lib:.frozen"))
        results["micropython"] = _parse(r.stdout)
        if not results["micropython"]:
            print("micropython run failed: %s" % (r.stdout + r.stderr)[-500:])
    keys = sorted(results["cpython"])
    print("| metric | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for k in keys:
        print("| %s | %s |" % (k, " | ".join("%.1f" % results[i].get(k, 0) for i in results)))
    flat = {}
    for interp, vals in results.items():
        for k, v in vals.items():
            flat["%s_%s" % (interp, k)] = v
    return flat


if __name__ == "__main__":
    main()
