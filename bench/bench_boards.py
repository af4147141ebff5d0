"""Board HALs on the MicroPython unix port: the smallest ``-X heapsize`` with which a realistic
archive is applied through ``boards/esp32`` (a 1.4 MB ``micropython.bin`` into ota_1 of the
real 4 MiB OTA partition table, flash kept in files by the esp32 double) and ``boards/rp2``
(a 66 KB app into a slot directory), plus the apply time at a roomy heap; and the smallest
heap for the whole client on the ESP32 HAL: join ``nhl hub`` over TLS, download and apply the
same 1.4 MB archive, reset, boot the new slot on trial, rejoin and confirm it.

The pip unix port is 64-bit: pointers are twice their size on a 32-bit MCU, so these
numbers are upper bounds for ESP32/RP2. With ``NHL_FROZEN_MICROPYTHON`` (a unix port built
with ``boards/unix/manifest.py``, e.g. 32-bit with ``CROSS_COMPILE=i686-linux-gnu-``) each
row is measured again with the library frozen in, as firmware carries it.
"""

import os
import subprocess
import sys
import tempfile
import time

import benchkit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in ("lib", "port_cpython", "tools"):
    sys.path.insert(0, os.path.join(ROOT, p))

MICROPYPATH = "lib:tests/doubles:boards/common:boards/esp32:boards/rp2:.frozen"
# NHL_FROZEN_MICROPYTHON (a unix port built with boards/unix/manifest.py, `make frozen-unix`):
# the same measurements with the library and the shared board glue frozen in, as in firmware
FROZEN_MICROPYPATH = "tests/doubles:boards/esp32:boards/rp2:.frozen"
STEP = 8 * 1024
APP_BYTES = 1400 * 1024


def firmware_like(n, seed):
    """Bytes that deflate like an app image (~60 %): noise mixed with repeated code-like runs."""
    import random

    rnd = random.Random(seed)
    out = bytearray()
    words = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(4, 24))) for _ in range(300)]
    while len(out) < n:
        if rnd.random() < 0.45:
            out += rnd.randbytes(64)
        else:
            out += b"".join(rnd.choice(words) for _ in range(8))
    out = out[:n]
    out[0], out[1] = 0xE9, 4
    return bytes(out)


def build(work):
    from nerves_hub_link.fwup import create, keygen

    pub, priv = keygen.generate_keys()
    keygen.write_key_files(os.path.join(work, "key"), pub, priv)
    key = os.path.join(work, "key.priv")
    app = os.path.join(work, "micropython.bin")
    with open(app, "wb") as f:
        f.write(firmware_like(APP_BYTES, 1))
    env = dict(os.environ, NHL_APP_IMAGE=app, NERVES_FW_VERSION="2.0.0",
               SOURCE_DATE_EPOCH="1700000000")
    esp = os.path.join(work, "esp32.fw")
    create.create_archive(os.path.join(ROOT, "boards/esp32/fwup.conf"), esp, private_key=key,
                          env=env)
    pyapp = os.path.join(work, "app.py")
    with open(pyapp, "w") as f:
        f.write("VERSION = '2.0.0'\n")
        for i in range(1200):
            f.write("def handler_%d(x):\n    return x * %d + len('%s')\n" % (i, i, "y" * (i % 17)))
    rp2 = os.path.join(work, "rp2.fw")
    create.create_archive(os.path.join(ROOT, "boards/rp2/fwup.conf"), rp2, private_key=key,
                          env=dict(env, NHL_APP=pyapp))
    with open(os.path.join(work, "key.pub")) as f:
        pub_text = f.read().strip()
    return {"esp32": esp, "rp2": rp2, "pub": os.path.join(work, "key.pub"),
            "pub_text": pub_text, "esp32_4mib": esp,
            "app_bytes": {"esp32": APP_BYTES, "rp2": os.path.getsize(pyapp)},
            "fw_bytes": {"esp32": os.path.getsize(esp), "rp2": os.path.getsize(rp2)}}


def probe(board, rel, work, heap, interp):
    _label, binary, path = interp
    scratch = os.path.join(work, "scratch-%s-%s" % (board, interp[0].replace(" ", "-")))
    t0 = time.monotonic()
    r = subprocess.run([binary, "-X", "heapsize=%d" % heap,
                        "tests/doubles/board_scenario.py", "apply", board, rel[board],
                        rel["pub"], scratch], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, MICROPYPATH=path), timeout=900)
    return r.returncode == 0 and "APPLY OK" in r.stdout, time.monotonic() - t0, r.stdout


def smallest(board, rel, work, interp):
    ok, roomy, out = probe(board, rel, work, 4 << 20, interp)
    if not ok:
        raise RuntimeError("%s apply fails even with a 4 MiB heap:\n%s" % (board, out))
    lo, hi = 32 * 1024, 4 << 20
    while hi - lo > STEP:
        mid = (lo + hi) // 2 // STEP * STEP
        if probe(board, rel, work, mid, interp)[0]:
            hi = mid
        else:
            lo = mid
    while not all(probe(board, rel, work, hi, interp)[0] for _ in range(2)):  # fragmentation
        hi += STEP
    return hi, lo, roomy


def hub_probe(hub, rel, work, heap, n, interp):
    """The esp32 board device with the link: True when the new slot was confirmed."""
    from nhl.hub import firmware as hubfw
    from nhl.hub.testing import DeviceProcess, device_config

    _label, binary, path = interp

    d = os.path.join(work, "hub-probe-%d" % n)
    os.makedirs(d)
    cfg = device_config(hub, d, "esp32", fwup_public_keys=[rel["pub_text"]])
    dev = DeviceProcess.__new__(DeviceProcess)
    import queue
    import threading

    dev.interp, dev.lines, dev._q, dev._seen = "esp32", [], queue.Queue(), 0
    dev.proc = subprocess.Popen(
        [binary, "-X", "heapsize=%d" % heap, "tests/doubles/board_device.py", cfg,
         os.path.join(d, "chip"), "2", "4mib"], cwd=ROOT,
        env=dict(os.environ, MICROPYPATH=path + ":boards/unix"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    dev._t = threading.Thread(target=dev._pump, daemon=True)
    dev._t.start()
    t0 = time.monotonic()
    try:
        try:
            dev.wait_line(r"joined: device", timeout=30)
            fw = hub.hub.add_firmware(rel["esp32_4mib"], "esp32-%d.fw" % n)
            payload = hubfw.update_payload(hub.hub.firmware_url(fw.name), fw.path, fw.meta)
            hub.call(hub.hub.push("device-1", "device", "update", payload))
            dev.wait_line(r"slot b marked valid|MemoryError|Traceback|failed", timeout=120)
        except AssertionError:
            return False, time.monotonic() - t0
        return bool(dev.count(r"slot b marked valid")), time.monotonic() - t0
    finally:
        dev.stop()


def smallest_with_link(rel, work, interp):
    from nhl.hub import init_dir
    from nhl.hub.testing import HubThread

    work = os.path.join(work, interp[0].replace(" ", "-"))
    os.makedirs(work)
    hub_dir = os.path.join(work, "hub")
    init_dir(hub_dir)
    hub = HubThread(hub_dir)
    n = [0]

    def probe(heap):
        n[0] += 1
        return hub_probe(hub, rel, work, heap, n[0], interp)

    try:
        ok, roomy = probe(4 << 20)
        if not ok:
            raise RuntimeError("the esp32 board device fails even with a 4 MiB heap")
        lo, hi = 64 * 1024, 4 << 20
        while hi - lo > STEP:
            mid = (lo + hi) // 2 // STEP * STEP
            if probe(mid)[0]:
                hi = mid
            else:
                lo = mid
        while not all(probe(hi)[0] for _ in range(2)):
            hi += STEP
    finally:
        hub.stop()
    return hi, lo, roomy


def main():
    link = "esp32 + link (join, TLS download, apply, reset, rejoin, confirm)"
    rows = []
    with tempfile.TemporaryDirectory() as work:
        rel = build(work)
        rel["app_bytes"][link] = rel["app_bytes"]["esp32"]
        rel["fw_bytes"][link] = rel["fw_bytes"]["esp32"]
        for interp in benchkit.interpreters(MICROPYPATH, FROZEN_MICROPYPATH):
            for b in ("esp32", "rp2"):
                rows.append((interp[0], b, smallest(b, rel, work, interp)))
            rows.append((interp[0], link, smallest_with_link(rel, work, interp)))
    print("| board HAL (unix port, x64) | library | payload | archive | smallest -X heapsize "
          "| largest failing | time at 4 MiB heap |")
    print("|---|---|---:|---:|---:|---:|---:|")
    out = {}
    for label, b, (hi, lo, roomy) in rows:
        print("| %s | %s | %d KiB | %d KiB | %d KiB | %d KiB | %.1f s |"
              % (b, label, rel["app_bytes"][b] // 1024, rel["fw_bytes"][b] // 1024, hi // 1024,
                 lo // 1024, roomy))
        key = b if label == "library in files" else "%s (%s)" % (b, label)
        out[key] = {"min_heap_kib": hi // 1024, "max_failing_kib": lo // 1024,
                    "apply_s": round(roomy, 2), "payload_bytes": rel["app_bytes"][b],
                    "archive_bytes": rel["fw_bytes"][b]}
    return out


if __name__ == "__main__":
    main()
