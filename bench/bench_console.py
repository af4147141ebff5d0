"""Console throughput: upload receive (base64 decode + file append), send_file chunking
(read + base64 + JSON-ready payloads) and REPL keystroke/evaluation rate.

The same script runs on CPython and (when `.venv/bin/micropython` exists) the MicroPython
unix port in subprocesses. Prints a markdown table, returns a dict of numbers.
"""

import benchkit

SCRIPT = benchkit.CLOCK + r'''
import asyncio, binascii, os, sys
from nerves_hub_link import file_transfer as ft
from nerves_hub_link.repl import Repl

TMP = "build/bench_console_" + sys.implementation.name
SIZE = 200 * 1024
data = bytes(range(256)) * (SIZE // 256)
chunks = [binascii.b2a_base64(data[i:i + 1024])[:-1].decode() for i in range(0, SIZE, 1024)]

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


def main():
    return benchkit.metric_table(benchkit.run_both(SCRIPT, heap="2M"))


if __name__ == "__main__":
    main()
