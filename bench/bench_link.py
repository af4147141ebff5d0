"""Link benchmark: a device process against the simulator on 127.0.0.1 over TLS.

* start -> joined: process start (interpreter, imports, config) + TCP + TLS 1.2 (+ NH1 PBKDF2
  signing) + WebSocket upgrade + Phoenix join, as seen from the device's own state lines;
* drop -> rejoined: the hub closes the socket; the device notices, waits its first backoff
  delay (50 ms here) and reconnects and rejoins.

Median of ``RUNS`` runs per row.
"""

import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in ("lib", "port_cpython", "tools"):
    if os.path.join(ROOT, p) not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, p))

RUNS = 3


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def _one(hub, tmp, interp, auth, ident, n):
    from nhl.hub.testing import DeviceProcess, device_config

    cfg = device_config(hub, tmp, "%s-%s-%d" % (interp, auth, n), auth=auth, identifier=ident)
    t0 = time.monotonic()
    dev = DeviceProcess(interp, cfg)
    try:
        dev.wait_line(r"^nhl: joined: device$", timeout=30)
        joined = time.monotonic() - t0
        hub.wait(lambda s: ident in s.devices and "device" in s.devices[ident].joined, 10)
        t1 = time.monotonic()
        hub.call(hub.hub.disconnect(ident))
        dev.wait_line(r"^nhl: joined: device$", timeout=30)
        rejoined = time.monotonic() - t1
    finally:
        dev.stop()
    hub.wait(lambda s: s.devices[ident].connection is None, 10)
    return joined, rejoined


def main():
    from nhl.hub import init_dir
    from nhl.hub.testing import HubThread

    tmp = tempfile.mkdtemp(prefix="nhl-bench-link-")
    init_dir(os.path.join(tmp, "hub"))
    hub = HubThread(os.path.join(tmp, "hub"))
    rows = []
    out = {}
    try:
        for interp in ("cpython", "micropython"):
            for auth, ident in (("certificate", "device-1"), ("shared_secret", "bench-nh1")):
                res = [_one(hub, tmp, interp, auth, ident, n) for n in range(RUNS)]
                j = _median([r[0] for r in res]) * 1000
                r = _median([r[1] for r in res]) * 1000
                rows.append((interp, auth, j, r))
                out["%s_%s_start_to_joined_ms" % (interp, auth)] = round(j, 1)
                out["%s_%s_drop_to_rejoined_ms" % (interp, auth)] = round(r, 1)
    finally:
        hub.stop()
    print("| interpreter | auth | start -> joined (ms) | drop -> rejoined (ms) |")
    print("|---|---|---:|---:|")
    for interp, auth, j, r in rows:
        print("| %s | %s | %.0f | %.0f |" % (interp, auth, j, r))
    return out


if __name__ == "__main__":
    main()
