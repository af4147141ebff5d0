"""Throughput of the sans-I/O protocol cores (WebSocket, HTTP, Phoenix).

CPython numbers in-process; the same micro-benchmarks run under the MicroPython unix
port (viper masking when the native emitter is there) in a subprocess when
`.venv/bin/micropython` exists. Prints a markdown table, returns a dict of numbers.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lib"))

# The same code runs on both interpreters (no CPython-only modules below this line).
SCRIPT = r'''
import sys
try:
    from time import ticks_us, ticks_diff
except ImportError:
    import time
    ticks_us = lambda: int(time.perf_counter() * 1000000)
    ticks_diff = lambda a, b: a - b
from nerves_hub_link import websocket as W
from nerves_hub_link.http import HTTPResponseParser, NEED_DATA
from nerves_hub_link.phoenix import Channels

def ms(fn):
    """Best of 3 runs, in milliseconds (float)."""
    best = None
    for _ in range(3):
        t0 = ticks_us()
        fn()
        dt = ticks_diff(ticks_us(), t0)
        best = dt if best is None or dt < best else best
    return max(1, best) / 1000.0

N = 1 << 20 if sys.implementation.name != "micropython" else 1 << 18
res = {}
buf = bytearray(N)
t = ms(lambda: W.mask(buf, 0, N, b"\x01\x02\x03\x04"))
res["mask_MBps"] = N / 1048.576 / t
t = ms(lambda: W._mask_py(buf, 0, N, b"\x01\x02\x03\x04"))
res["mask_plain_MBps"] = N / 1048.576 / t

def ws_recv():
    ws = W.WSClient("h", "/", rand=lambda n: bytes(n), max_message=N + 1)
    ws.handshake_request()
    ws.receive_data(b"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + W.accept_key(ws._key).encode() + b"\r\n\r\n")
    ws.next_event()
    frame = bytes([0x82, 127, 0, 0, 0, 0]) + N.to_bytes(4, "big") + bytes(N)
    for i in range(0, len(frame), 4096):
        ws.receive_data(frame[i:i + 4096])
        ws.next_event()
t = ms(ws_recv)
res["ws_recv_MBps"] = N / 1048.576 / t

def ws_send():
    ws = W.WSClient("h", "/", rand=lambda n: b"\x01\x02\x03\x04"[:n] if n == 4 else bytes(n))
    ws.handshake_request()
    ws.receive_data(b"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + W.accept_key(ws._key).encode() + b"\r\n\r\n")
    ws.next_event()
    ws.send(W.Message(bytes(N)))
t = ms(ws_send)
res["ws_send_MBps"] = N / 1048.576 / t

def http_chunked():
    p = HTTPResponseParser()
    p.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"1000\r\n" + bytes(4096) + b"\r\n"
    for _ in range(N // 4096):
        p.receive_data(chunk)
        while p.next_event() is not NEED_DATA:
            pass
t = ms(http_chunked)
res["http_chunked_MBps"] = N / 1048.576 / t

def phoenix():
    ch = Channels(0)
    ch.join("device", {})
    ch.receive_text('["1","1","device","phx_reply",{"status":"ok","response":{}}]')
    ch.next_event()
    for _ in range(2000):
        ch.receive_text('[null,null,"device","fwup_progress",{"value":42}]')
        ch.next_event()
        ch.push("device", "status_update", {"status": "received"})
        ch.outgoing()
t = ms(phoenix)
res["phoenix_roundtrips_per_s"] = 2000 * 1000 / t
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
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "lib"))
    cp = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                        env=env, cwd=ROOT, timeout=300)
    results = {"cpython": _parse(cp.stdout)}
    mp = os.path.join(ROOT, ".venv", "bin", "micropython")
    if os.path.exists(mp):
        r = subprocess.run([mp, "-X", "heapsize=8M", "-c", SCRIPT], capture_output=True,
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
