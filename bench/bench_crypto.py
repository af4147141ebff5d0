"""Crypto throughput: BLAKE2b-256 and SHA-512 (pure Python, viper) against C SHA-256 in the same
interpreter, and one Ed25519 verify of a fwup meta.conf.

Runs the same script under the MicroPython unix port (subprocess, when `.venv/bin/micropython`
or `micropython` exists) and CPython. Prints a markdown table, returns a dict of numbers.
"""

import json

import benchkit

# The same code runs on both interpreters.
SCRIPT = benchkit.CLOCK + r'''
import hashlib
import json
import sys
from nerves_hub_link.crypto import blake2b, ed25519, sha512

MP = sys.implementation.name == "micropython"


def rate(make, nbytes, chunk=4096):
    data = bytes(i & 255 for i in range(chunk))
    mv = memoryview(data)

    def run():
        h = make()
        for _ in range(nbytes // chunk):
            h.update(mv)
        h.digest()
    return nbytes / best_us(run)  # bytes per microsecond = MB/s


BIG = 1 << 20
SMALL = 1 << 16
rows = []
rows.append(["sha256 (C hashlib)", rate(hashlib.sha256, 4 * BIG)])
if hasattr(hashlib, "blake2b"):
    rows.append(["blake2b-256 (C hashlib)", rate(lambda: hashlib.blake2b(digest_size=32), 4 * BIG)])
if hasattr(hashlib, "sha512"):
    rows.append(["sha512 (C hashlib)", rate(hashlib.sha512, 4 * BIG)])
for cls in blake2b.implementations():
    n = SMALL if cls is blake2b.Blake2bPlain else BIG
    rows.append(["blake2b-256 " + cls.__name__, rate(lambda: cls(32), n)])
for cls in sha512.implementations():
    n = SMALL if cls is sha512.Sha512Plain else BIG
    rows.append(["sha512 " + cls.__name__, rate(cls, n)])

meta = open("tests/fixtures/fwup/F01_raw_write_basic/meta.conf", "rb").read()
meta = (meta * 2)[:1024]
seed = bytes(range(32))
pub = ed25519.public_key(seed)
sig = ed25519.sign_pure(seed, meta)
ok = []
verify_us = best_us(lambda: ok.append(ed25519.verify_pure(pub, sig, meta)), 10)
sign_us = best_us(lambda: ed25519.sign_pure(seed, meta), 3)
print(json.dumps({"rows": rows, "verify_ms": verify_us / 1000, "sign_ms": sign_us / 1000,
                  "verify_ok": all(ok), "msg_len": len(meta),
                  "sha512_for_verify": sha512.Sha512.__name__ if not hasattr(hashlib, "sha512")
                  else "hashlib"}))
'''


def run(interp):
    r = benchkit.run_script(SCRIPT, interp)
    if r.returncode:
        raise RuntimeError("%s bench failed: %s" % (interp, (r.stderr or r.stdout)[-800:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    results = {}
    runs = [("cpython", run("cpython"))]
    if benchkit.micropython():
        runs.insert(0, ("micropython", run("micropython")))
    print("| interpreter | implementation | MB/s | time vs C sha256 |")
    print("|---|---|---:|---:|")
    for interp, res in runs:
        base = res["rows"][0][1]
        for name, mbs in res["rows"]:
            print("| %s | %s | %.2f | %.1fx |" % (interp, name, mbs, base / mbs))
            results["%s %s MB/s" % (interp, name)] = round(mbs, 3)
            results["%s %s ratio" % (interp, name)] = round(base / mbs, 2)
    print()
    print("| interpreter | Ed25519 verify (%d-byte meta.conf) | sign (same) | SHA-512 used |"
          % runs[0][1]["msg_len"])
    print("|---|---:|---:|---|")
    for interp, res in runs:
        print("| %s | %.2f ms | %.2f ms | %s |" % (interp, res["verify_ms"], res["sign_ms"],
                                                  res["sha512_for_verify"]))
        results["%s ed25519 verify ms" % interp] = round(res["verify_ms"], 3)
        results["%s ed25519 sign ms" % interp] = round(res["sign_ms"], 3)
        if not res["verify_ok"]:
            raise RuntimeError("%s: Ed25519 verify returned False in the benchmark" % interp)
    return results


if __name__ == "__main__":
    main()
