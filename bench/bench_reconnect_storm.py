"""Reconnect storm: 1000 devices lose the server at t=0 (simulated time, 10 ms steps).

Each device runs the real reconnect policy: ``Link._next_delay`` with the default
``Client.reconnect_backoff()`` (the config's list, else ``backoff.delay_list(1000, 60000, 0.5)``
with its first retry spread over 1-40 s by ``backoff.spread_first``; the device's own
randomness), the attempt counter reset on success. The server accepts ``capacity`` TLS handshakes per second (None = unlimited); an attempt over capacity fails and
the device takes its next delay. Reported per policy: the busiest second's share of attempts
and of successful reconnects, and when the last device is back.
"""

import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lib"))

from nerves_hub_link.client import Client  # noqa: E402
from nerves_hub_link.link import Link  # noqa: E402

N = 1000
STEP_MS = 10


class _Config:
    def __init__(self, reconnect):
        self.socket = {"reconnect_after_ms": reconnect} if reconnect else {}

    def reconnect_after_ms(self):
        return self.socket.get("reconnect_after_ms")


class _Hal:
    def __init__(self, seed):
        self._r = random.Random(seed)

    def rand(self, n):
        return bytes(self._r.getrandbits(8) for _ in range(n))


class SimDevice:
    """Just the reconnect state of a Link, driven through Link's own methods."""

    _next_delay = Link._next_delay
    _default_backoff = Link._default_backoff

    def __init__(self, seed, reconnect=None, client=None):
        self.attempt = 0
        self._delays = None
        self.hal = _Hal(seed)
        self.config = _Config(reconnect)
        self.client = client or Client()
        self.client.link = self


class NhlList(Client):
    """NervesHubLink's exact list: delay_list(1000, 60000, 0.5), no spread of the first retry."""

    def reconnect_backoff(self):
        from nerves_hub_link import backoff

        return backoff.delay_list(1000, 60000, 0.5, self.link.hal.rand)


def storm(make_device, capacity):
    devs = [make_device(i) for i in range(N)]
    due = [d._next_delay() for d in devs]  # all dropped at t=0
    back = [None] * N
    attempts = {}
    t = 0
    waiting = N
    while waiting:
        t += STEP_MS
        sec = t // 1000
        for i in range(N):
            if back[i] is not None or due[i] > t:
                continue
            attempts[sec] = attempts.get(sec, 0) + 1
            used = sum(1 for b in back if b is not None and b // 1000 == sec)
            if capacity is None or used < capacity:
                back[i] = t
                devs[i].attempt = 0  # the counter resets on a successful connection
                waiting -= 1
            else:
                due[i] = t + devs[i]._next_delay()
    per_sec = {}
    for b in back:
        per_sec[b // 1000] = per_sec.get(b // 1000, 0) + 1
    return {"busiest_attempts_pct": 100.0 * max(attempts.values()) / N,
            "busiest_reconnects_pct": 100.0 * max(per_sec.values()) / N,
            "all_back_s": max(back) / 1000.0,
            "histogram": [per_sec.get(s, 0) for s in range(max(per_sec) + 1)]}


def main():
    cases = [
        ("default: first retry spread over 1-40 s", lambda i: SimDevice(i), None),
        ("default, server 50 handshakes/s", lambda i: SimDevice(i), 50),
        ("NervesHubLink list delay_list(1000, 60000, 0.5)",
         lambda i: SimDevice(i, client=NhlList()), None),
        ("NervesHubLink list, server 100 handshakes/s",
         lambda i: SimDevice(i, client=NhlList()), 100),
    ]
    out = {}
    print("| policy (1000 devices dropped at t=0) | busiest s: attempts | busiest s: reconnects"
          " | all back after |")
    print("|---|---|---|---|")
    for label, make, cap in cases:
        r = storm(make, cap)
        out[label] = r
        print("| %s | %.1f%% | %.1f%% | %.1f s |" % (label, r["busiest_attempts_pct"],
                                                   r["busiest_reconnects_pct"], r["all_back_s"]))
    print("\nReconnects per second (default policy):")
    hist = out[cases[0][0]]["histogram"]
    for s, n in enumerate(hist):
        print("%3d s %4d %s" % (s, n, "#" * (n // 2)))
    return out


if __name__ == "__main__":
    main()
