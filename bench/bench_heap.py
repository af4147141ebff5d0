"""MicroPython heap needed for a whole update: the smallest ``-X heapsize`` with which the
unix-port device (``boards/unix/main.py``) joins ``nhl hub`` over TLS, downloads a signed
release over HTTPS and applies it (A/B, redundant U-Boot environment) until it asks to reboot.

Bisection over heap sizes in 8 KiB steps, confirmed by two more passes; each probe is a fresh device process on a freshly
provisioned flash image. Also reported: the same update's wall time at a roomy 2 MiB heap.
"""

import os
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in ("lib", "port_cpython", "tools", "boards/common"):
    sys.path.insert(0, os.path.join(ROOT, p))

ROOTFS = 256 * 1024
STEP = 8 * 1024


def _probe(hub, rel, work, heap, n, interp):
    import subprocess

    from demo import ENV_COUNT, ENV_OFFSET, ENV_REDUND, provision, read_env
    from nhl.hub import firmware as hubfw
    from nhl.hub.testing import device_config

    d = os.path.join(work, "p%d" % n)
    os.makedirs(d)
    flash = provision(os.path.join(d, "flash.img"), rel["v1"], rel["pub"])
    cfg = device_config(hub, d, "dev", block_device=flash,
                        uboot_env=[ENV_OFFSET, ENV_COUNT, ENV_REDUND],
                        fwup_public_keys=[rel["key"]])
    _label, binary, path = interp
    env = dict(os.environ, MICROPYPATH=path)
    rec0 = hub.device("device-1")
    before = rec0.connections if rec0 else 0
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "-X", "heapsize=%d" % heap,
                             "boards/unix/main.py", "--config", cfg, "--on-reboot", "exit"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()

    def failed():
        return proc.poll() is not None or any(
            "MemoryError" in x or "status: failed" in x or "Traceback" in x for x in lines)

    try:
        def joined(state):
            rec = state.devices.get("device-1")
            return (rec is not None and rec.connections > before and rec.connection is not None
                    and "device" in rec.joined)

        deadline = time.monotonic() + 20
        while not hub.run(joined, hub.hub.state):
            if failed() or time.monotonic() > deadline:
                return False, time.monotonic() - t0
            time.sleep(0.05)

        async def offer():
            fw = hub.hub.add_firmware(rel["v2"], "v2-%d.fw" % n)
            payload = hubfw.update_payload(hub.hub.firmware_url(fw.name), fw.path, fw.meta)
            await hub.hub.push("device-1", "device", "update", payload)
        hub.call(offer())
        deadline = time.monotonic() + 60
        while proc.poll() is None:
            if failed() or time.monotonic() > deadline:
                return False, time.monotonic() - t0
            time.sleep(0.05)
        ok = (any("nhl: rebooting" in x for x in lines)
              and read_env(flash).get("nerves_fw_active") == "b")
        return ok, time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def smallest(hub, rel, work, interp, n):
    """(smallest heap, largest failing, update time at 2 MiB, probes) for one interpreter."""
    def probe(heap):
        n[0] += 1
        return _probe(hub, rel, work, heap, n[0], interp)

    ok, roomy_s = probe(2 << 20)
    if not ok:
        raise RuntimeError("the update fails even with a 2 MiB heap (%s)" % interp[0])
    lo, hi = 64 * 1024, 2 << 20  # lo fails (assumed), hi passes
    probes = [(2 << 20, True)]
    while hi - lo > STEP:
        mid = (lo + hi) // 2 // STEP * STEP
        ok, _ = probe(mid)
        probes.append((mid, ok))
        if ok:
            hi = mid
        else:
            lo = mid
    # heaps fragment: the answer must pass three times in a row
    while True:
        again = [probe(hi)[0] for _ in range(2)]
        probes += [(hi, o) for o in again]
        if all(again):
            break
        hi += STEP
    return hi, lo, roomy_s, probes


def main():
    import benchkit
    from demo import make_keys, make_release, rootfs_bytes
    from nhl.hub import init_dir
    from nhl.hub.testing import HubThread

    results = []
    with tempfile.TemporaryDirectory() as work:
        fw_dir = os.path.join(work, "fw")
        os.makedirs(fw_dir)
        pub, priv = make_keys(fw_dir)
        rel = {"pub": pub,
               "v1": make_release(fw_dir, "1.0.0", priv, rootfs=rootfs_bytes("1", ROOTFS)),
               "v2": make_release(fw_dir, "2.0.0", priv, rootfs=rootfs_bytes("2", ROOTFS))}
        with open(pub) as f:
            rel["key"] = f.read().strip()
        hub_dir = os.path.join(work, "hub")
        init_dir(hub_dir)
        hub = HubThread(hub_dir)
        try:
            n = [0]
            for interp in benchkit.interpreters("lib:boards/unix:.frozen", ".frozen"):
                results.append((interp[0], smallest(hub, rel, work, interp, n)))
        finally:
            hub.stop()
    print("| measure | library | value |")
    print("|---|---|---|")
    out = {}
    for label, (hi, lo, roomy_s, probes) in results:
        print("| smallest -X heapsize for join + TLS download + apply + reboot | %s | %d KiB |"
              % (label, hi // 1024))
        print("| largest failing heapsize probed | %s | %d KiB |" % (label, lo // 1024))
        print("| update wall time at 2 MiB heap (%d KiB rootfs) | %s | %.1f s |"
              % (ROOTFS // 1024, label, roomy_s))
        print("| probes | %s | %s |" % (label, ", ".join(
            "%dK %s" % (h // 1024, "ok" if o else "fail") for h, o in probes)))
        res = {"min_heap_kib": hi // 1024, "max_failing_kib": lo // 1024,
               "roomy_update_s": round(roomy_s, 2), "rootfs_kib": ROOTFS // 1024,
               "probes": [[h, o] for h, o in probes]}
        if label == "library in files":
            out.update(res)
        else:
            out["frozen"] = res
    return out


if __name__ == "__main__":
    main()
