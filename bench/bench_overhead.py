"""Our CPython apply against a plain baseline over the same signed archive.

Ours: ``Applier`` (streaming zip reader, Ed25519 signature check, BLAKE2b-256 verify, segment
cache emulation with its undo journal) fed 64 KiB pieces, writing a RAM block device, with the
CPython port's accelerators (hashlib BLAKE2b, cryptography Ed25519) as a CPython device runs.
Baseline: ``zipfile`` (zlib inflate + CRC-32) + ``hashlib.blake2b`` + a copy into a bytearray:
the least work anything must do to apply the archive. Best of 3 runs each.
"""

import io
import os
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in ("lib", "port_cpython"):
    sys.path.insert(0, os.path.join(ROOT, p))

SIZES = (16 << 20, 64 << 20)
CONF = """meta-product = "bench"
meta-version = "1"
file-resource rootfs.img { host-path = "rootfs.img" }
task complete { on-resource rootfs.img { raw_write(64) } }
"""


def build(directory, size):
    from nerves_hub_link.fwup.create import create_archive, generate_keys

    pub, priv = generate_keys(b"\x05" * 32)
    half = size // 2
    data = os.urandom(half) + (b"compressible firmware text %08d\n" % 7) * (half // 36 + 1)
    with open(os.path.join(directory, "rootfs.img"), "wb") as f:
        f.write(data[:size])
    with open(os.path.join(directory, "fwup.conf"), "w") as f:
        f.write(CONF)
    out = os.path.join(directory, "b.fw")
    create_archive(os.path.join(directory, "fwup.conf"), out, private_key=priv, level=6)
    with open(out, "rb") as f:
        return f.read(), pub


class Ram:
    def __init__(self, n):
        self.data = bytearray(n)

    def readblocks(self, b, buf, off=0):
        s = b * 512 + off
        buf[:] = self.data[s:s + len(buf)]

    def writeblocks(self, b, buf, off=0):
        s = b * 512 + off
        self.data[s:s + len(buf)] = buf

    def ioctl(self, op, arg):
        return len(self.data) // 512 if op == 4 else (512 if op == 5 else 0)


def ours(fw, pub, size):
    from nerves_hub_link.fwup.applier import Applier

    dev = Ram(size + 64 * 512 + 4096)
    a = Applier(dev, "complete", public_keys=[pub])
    mv = memoryview(fw)
    for i in range(0, len(fw), 65536):
        a.feed(mv[i:i + 65536])
    a.finish()
    return dev


def baseline(fw, size):
    import hashlib

    out = bytearray(size + 64 * 512 + 4096)
    with zipfile.ZipFile(io.BytesIO(fw)) as z:
        for info in z.infolist():
            if not info.filename.startswith("data/"):
                z.read(info)
                continue
            h = hashlib.blake2b(digest_size=32)
            pos = 64 * 512
            with z.open(info) as f:
                while True:
                    piece = f.read(65536)
                    if not piece:
                        break
                    h.update(piece)
                    out[pos:pos + len(piece)] = piece
                    pos += len(piece)
            h.digest()
    return out


def best(fn, *args):
    t = None
    for _ in range(3):
        t0 = time.perf_counter()
        fn(*args)
        dt = time.perf_counter() - t0
        t = dt if t is None or dt < t else t
    return t


def main():
    import nhl_port

    nhl_port.install()
    out = {}
    print("| archive | rootfs | ours (s) | baseline zlib+hashlib (s) | overhead | ours MB/s |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for size in SIZES:
            fw, pub = build(d, size)
            dev = ours(fw, pub, size)
            ref = baseline(fw, size)
            assert dev.data[:len(ref)] == ref, "our image differs from the baseline's"
            t_ours = best(ours, fw, pub, size)
            t_base = best(baseline, fw, size)
            key = "%d MiB" % (size >> 20)
            out[key] = {"archive_bytes": len(fw), "ours_s": round(t_ours, 4),
                        "baseline_s": round(t_base, 4), "overhead": round(t_ours / t_base, 2),
                        "ours_mb_s": round(size / t_ours / 1e6, 1)}
            r = out[key]
            print("| %.1f MB | %s | %.3f | %.3f | %.2fx | %.0f |" % (
                len(fw) / 1e6, key, t_ours, t_base, r["overhead"], r["ours_mb_s"]))
    return out


if __name__ == "__main__":
    main()
