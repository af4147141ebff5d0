"""NervesKey driver cost on the host: CRC-16, exact certificate rebuild, a whole
``device_cert()`` through the transport against the chip double (CPython and, when
`.venv/bin/micropython` exists, the MicroPython unix port), and the chip time the driver
waits for (fake clock: typical execution times + wake delays). Prints a markdown table,
returns a dict of numbers."""

import json
import sys
import time

if sys.implementation.name != "micropython":
    import os
    import subprocess

    ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:0] = [os.path.join(ROOT, p) for p in ("lib", "tests/portable", "port_cpython")]


def _now_us():
    if hasattr(time, "ticks_us"):
        return time.ticks_us()
    return time.perf_counter_ns() // 1000


def _per_call_us(fn, n):
    t0 = _now_us()
    for _ in range(n):
        fn()
    return (_now_us() - t0) / n


def measure():
    import binascii

    from atecc_double import AteccDouble, Clock, load_vectors
    from nerves_hub_link.nerves_key import NervesKey, certs
    from nerves_hub_link.nerves_key.crc import crc16

    v = load_vectors()
    h = binascii.unhexlify
    img = v["chip_image"]
    comp, signer = h(img["slots"]["10"]), h(img["slots"]["11"])[:64]
    sn, pub = h(v["device_sn"]), h(v["device_public_key_raw"])
    block = bytes(range(128))
    out = {
        "crc16_128B_us": _per_call_us(lambda: crc16(block), 50),
        "device_cert_rebuild_us": _per_call_us(
            lambda: certs.device_cert_der(comp, sn, v["manufacturer_sn"], pub, signer), 50),
    }

    def full():
        clock = Clock()
        chip = AteccDouble(v, clock)
        NervesKey(chip, clock.sleep_ms, clock.ticks_ms).device_cert()
        return clock.now, len(chip.groups)

    out["device_cert_driver_us"] = _per_call_us(full, 20)
    out["device_cert_chip_wait_ms"], out["device_cert_requests"] = full()
    return out


def main():
    rows = {"cpython": measure()}
    mp = os.path.join(ROOT, ".venv", "bin", "micropython")
    if os.path.exists(mp):
        env = dict(os.environ, MICROPYPATH="lib:boards/unix:tests/portable:.frozen")
        r = subprocess.run([mp, "-X", "heapsize=1M", "bench/bench_nerves_key.py"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=300)
        if r.returncode == 0:
            rows["micropython"] = json.loads(r.stdout.strip().splitlines()[-1])
    try:
        from nerves_hub_link.nerves_key import NervesKey
        from nhl_port.atecc_sim import AteccSim, SimClock

        clock = SimClock()
        nk = NervesKey(AteccSim.from_json("tests/fixtures/nerves-key/vectors.json", clock=clock),
                       clock.sleep_ms, clock.ticks_ms)
        nk.config()
        t0 = clock.now
        nk.sign_digest(bytes(32))
        rows["cpython"]["sign_chip_wait_ms_608"] = clock.now - t0
    except ImportError:
        pass
    keys = ["crc16_128B_us", "device_cert_rebuild_us", "device_cert_driver_us",
            "device_cert_requests", "device_cert_chip_wait_ms", "sign_chip_wait_ms_608"]
    print("| metric | " + " | ".join(rows) + " |")
    print("|---|" + "---|" * len(rows))
    for k in keys:
        cells = []
        for r in rows.values():
            x = r.get(k)
            cells.append("-" if x is None else ("%.1f" % x if isinstance(x, float) else str(x)))
        print("| %s | %s |" % (k, " | ".join(cells)))
    return rows


if __name__ == "__main__":
    if sys.implementation.name == "micropython":
        print(json.dumps(measure()))
    else:
        main()
