"""Throughput of the sans-I/O protocol cores (WebSocket, HTTP, Phoenix).

CPython numbers in-process; the same micro-benchmarks run under the MicroPython unix
port (viper masking when the native emitter is there) in a subprocess when
`.venv/bin/micropython` exists. Prints a markdown table, returns a dict of numbers.
"""

import benchkit

# The same code runs on both interpreters (no CPython-only modules below this line).
SCRIPT = benchkit.CLOCK + r'''
import sys
from nerves_hub_link import websocket as W
from nerves_hub_link.http import HTTPResponseParser, NEED_DATA
from nerves_hub_link.phoenix import Channels

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


def main():
    return benchkit.metric_table(benchkit.run_both(SCRIPT, heap="8M"))


if __name__ == "__main__":
    main()
