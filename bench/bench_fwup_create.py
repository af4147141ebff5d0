"""fwup creation throughput on CPython: create (level 9 / 1, with --sha256), re-sign, verify.

Input: one 16 MiB resource, half random bytes, half compressible text (like fixture F08).
"""

import os
import shutil
import sys
import tempfile
import time

sys.path[:0] = ["lib", "port_cpython", "tools"]

SIZE = 16 << 20


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    import nhl_port

    nhl_port.install()
    from nerves_hub_link.fwup import create
    from nhl import cmd_fw

    tmp = tempfile.mkdtemp()
    try:
        data = os.urandom(SIZE // 2) + (b"fwup bench line of text 0123456789\n" * (SIZE // 72))
        data = data[:SIZE].ljust(SIZE, b".")
        with open(os.path.join(tmp, "big.bin"), "wb") as f:
            f.write(data)
        conf = os.path.join(tmp, "fwup.conf")
        with open(conf, "w") as f:
            f.write('meta-product = "bench"\nfile-resource big.bin { host-path = "big.bin" }\n'
                    "task complete { on-resource big.bin { raw_write(0) } }\n")
        key = "tests/fixtures/fwup/keys/fwup-key.priv"
        env = {"SOURCE_DATE_EPOCH": "1700000000"}
        out = os.path.join(tmp, "o.fw")
        rows = []
        rows.append(("create -9", _timed(lambda: create.create_archive(conf, out, env=env))))
        rows.append(("create -1", _timed(lambda: create.create_archive(conf, out, level=1,
                                                                        env=env))))
        rows.append(("create -9 --sha256 -s", _timed(lambda: create.create_archive(
            conf, out, private_key=key, sha256=True, env=env))))
        rows.append(("sign (re-deflate -9)", _timed(lambda: create.sign_archive(out, out, key,
                                                                                   env=env))))
        bar = cmd_fw._Progress("", False)
        rows.append(("verify (inflate + hashes)", _timed(lambda: cmd_fw._scan(out, bar))))
        mb = SIZE / float(1 << 20)
        print("| operation (16 MiB resource) | seconds | MiB/s |")
        print("|---|---|---|")
        result = {}
        for name, secs in rows:
            print("| %s | %.3f | %.1f |" % (name, secs, mb / secs))
            result[name] = {"seconds": round(secs, 4), "mib_per_s": round(mb / secs, 1)}
        return result
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
