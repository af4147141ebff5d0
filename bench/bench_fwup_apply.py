"""Benchmark the fwup apply engine: F08 and a generated 32 MiB archive, on CPython and on
the MicroPython unix port (both through the CLI, in a subprocess), plus BLAKE2b-256
throughput and one Ed25519 verify on each interpreter.

``main()`` prints a markdown table and returns a dict of the numbers.
"""

import binascii
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FX = os.path.join(ROOT, "tests", "fixtures", "fwup")
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
BIG = 32 * 1024 * 1024


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "lib") + os.pathsep + os.path.join(ROOT, "port_cpython")
    env["MICROPYPATH"] = os.path.join(ROOT, "lib") + ":.frozen"
    return env


def _interps():
    out = [("CPython", [sys.executable])]
    if os.path.exists(MICROPYTHON):
        out.append(("MicroPython", [MICROPYTHON, "-X", "heapsize=2M"]))
    return out


def make_big_archive(path, size=BIG):
    """A valid fwup archive (unsigned): meta.conf + one deflated resource of ``size`` bytes."""
    import hashlib

    chunk = 1 << 20
    h = hashlib.blake2b(digest_size=32)
    crc = 0
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    tmp = path + ".data"
    with open(tmp, "wb") as f:
        csize = 0
        for i in range(size // chunk):
            # half random, half text: realistic compressibility
            block = os.urandom(chunk // 2) + (b"firmware block %08d " % i) * (chunk // 48)
            block = block[:chunk].ljust(chunk, b"x")
            h.update(block)
            crc = binascii.crc32(block, crc)
            c = comp.compress(block)
            f.write(c)
            csize += len(c)
        c = comp.flush()
        f.write(c)
        csize += len(c)
    meta = ('file-resource "big.bin" {\nlength=%d\nblake2b-256=%s\n}\n'
            'task "complete" {\non-resource "big.bin" {\nfunlist={2,raw_write,0}\n}\n}\n'
            % (size, h.hexdigest())).encode()
    with open(path, "wb") as out, open(tmp, "rb") as data:
        mc = zlib.compressobj(9, zlib.DEFLATED, -15)
        mz = mc.compress(meta) + mc.flush()
        out.write(_local(b"meta.conf", 8, binascii.crc32(meta), len(mz), len(meta)) + mz)
        out.write(_local(b"data/big.bin", 8, crc, csize, size))
        while True:
            b = data.read(chunk)
            if not b:
                break
            out.write(b)
        out.write(b"PK\x05\x06" + bytes(18))
    os.remove(tmp)


def _local(name, method, crc, csize, usize):
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc & 0xFFFFFFFF,
                       csize, usize, len(name), 0) + name


def _apply(cmd, fw, cwd, key=None):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.img")
        args = cmd + ["-m", "nerves_hub_link.fwup", "-a", "-q", "-d", out, "-t", "complete",
                      "-i", fw] + (["-p", key] if key else [])
        t0 = time.perf_counter()
        r = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, timeout=3600)
        dt = time.perf_counter() - t0
        if r.returncode:
            raise RuntimeError("apply failed: %r %r" % (r.stdout[-300:], r.stderr[-1000:]))
    return dt


_CRYPTO = r"""
import time
try:
    from time import perf_counter as now
    def ms(a, b): return (b - a) * 1000
except ImportError:
    from time import ticks_us as now, ticks_diff
    def ms(a, b): return ticks_diff(b, a) / 1000
from nerves_hub_link import hal
hal.install_port()
from nerves_hub_link.crypto import hashes, ed25519
data = bytes(range(256)) * 256 * N
t0 = now(); h = hashes.blake2b_256(); h.update(data); h.digest(); t1 = now()
pub = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
sig = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
ok = ed25519.verify(pub, sig, b"")
t2 = now()
warm = []
for _ in range(5):
    t3 = now(); ok = ok and ed25519.verify(pub, sig, b""); warm.append(ms(t3, now()))
warm.sort()
print("RESULT", len(data), ms(t0, t1), ms(t1, t2), warm[2], ok, hashes.which_blake2b())
"""


def _crypto(cmd, mib):
    r = subprocess.run(cmd + ["-c", _CRYPTO.replace("N", str(mib * 16))], cwd=ROOT, env=_env(),
                       capture_output=True, timeout=600, text=True)
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT")]
    if not line:
        raise RuntimeError(r.stdout + r.stderr)
    _, n, hms, vms, wms, ok, which = line[0].split()
    return int(n), float(hms), float(vms), float(wms), ok == "True", which


def main():
    results = {}
    rows = []
    f08 = os.path.join(FX, "F08_large_streaming")
    with tempfile.TemporaryDirectory() as d:
        big = os.path.join(d, "big.fw")
        make_big_archive(big)
        for name, cmd in _interps():
            t = _apply(cmd, "signed.fw", f08, "../keys/fwup-key.pub")
            rows.append((name, "apply F08 (1 MiB, signed)", "%.2f s" % t, "%.1f MB/s" % (1.048576 / t)))
            results[name + ".f08_s"] = t
            t = _apply(cmd, big, d)
            rows.append((name, "apply 32 MiB archive", "%.2f s" % t, "%.1f MB/s" % (BIG / 1e6 / t)))
            results[name + ".big_s"] = t
            mib = 16 if name == "CPython" else 1
            n, hms, vms, wms, ok, which = _crypto(cmd, mib)
            rows.append((name, "BLAKE2b-256 (%s)" % which, "%.1f ms / %d MiB" % (hms, mib),
                         "%.2f MB/s" % (n / 1e3 / max(hms, 1e-6))))
            rows.append((name, "Ed25519 verify (RFC 8032 test 1, %s), first call" % ok,
                         "%.1f ms" % vms, "includes loading and table set-up"))
            rows.append((name, "Ed25519 verify, next calls", "%.2f ms" % wms, "median of 5"))
            results[name + ".blake2b_MBps"] = n / 1e3 / max(hms, 1e-6)
            results[name + ".ed25519_ms"] = vms
            results[name + ".ed25519_warm_ms"] = wms
    print("| interpreter | operation | time | throughput |")
    print("|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %s | %s |" % r)
    return results


if __name__ == "__main__":
    main()
