"""Firmware update throughput on CPython: download + streaming apply of a 3 MiB release
(tools/demo.py's A/B firmware) from an aiohttp server on 127.0.0.1, clean and with five
dropped connections plus one 200-instead-of-206, and the apply alone from memory."""

import asyncio
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in ("lib", "port_cpython", "tools"):
    if os.path.join(ROOT, p) not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, p))


async def _serve(path, faults):
    from aiohttp import web

    data = open(path, "rb").read()
    stats = {"sent": 0, "requests": 0}

    async def handler(request):
        fault = faults.pop(0) if faults else {}
        stats["requests"] += 1
        start = 0
        rng = request.headers.get("Range")
        if rng and not fault.get("ignore_range"):
            start = int(rng[6:].split("-")[0])
        body = data[start:]
        resp = web.StreamResponse(status=206 if start else 200)
        resp.content_length = len(body)
        if start:
            resp.headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        await resp.prepare(request)
        limit = fault.get("drop_after", len(body))
        for i in range(0, limit, 65536):
            chunk = body[i:min(i + 65536, limit)]
            await resp.write(chunk)
            stats["sent"] += len(chunk)
        if limit < len(body):
            request.transport.close()
            return resp
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/fw", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, port, stats


async def _update(fw_path, flash, key, faults):
    from nerves_hub_link import update_manager as um
    from nerves_hub_link.download import RetryConfig
    from nerves_hub_link.fwup.blockdev import FileBlockDevice

    runner, port, stats = await _serve(fw_path, list(faults))
    pushed = []
    dev = FileBlockDevice(flash)
    done = asyncio.Event()

    def reboot():
        done.set()

    async def open_connection(host, p, tls):
        return await asyncio.open_connection(host, p)

    m = um.UpdateManager(lambda e, p: pushed.append((e, p)), um.applier_factory(dev),
                         open_connection, lambda: int(time.monotonic() * 1000),
                         fwup_public_keys=[key], reboot=reboot,
                         retry=RetryConfig(time_between_retries=0))
    t0 = time.perf_counter()
    m.on_update({"firmware_url": "http://127.0.0.1:%d/fw" % port,
                 "firmware_meta": {"uuid": "bench", "version": "2.0.0"}})
    await asyncio.wait_for(done.wait(), 120)
    dt = time.perf_counter() - t0
    dev.close()
    await runner.cleanup()
    status = [p["status"] for e, p in pushed if e == "status_update"]
    assert status[-1] == "completed", status
    return dt, stats


def main():
    from demo import make_keys, make_release, provision
    from nerves_hub_link import hal
    from nerves_hub_link.fwup.applier import Applier
    from nerves_hub_link.fwup.blockdev import FileBlockDevice
    from nerves_hub_link.fwup.keys import decode_public

    hal.install_port()
    from nerves_hub_link import log

    log.set_sink(lambda line: None)
    rows = []
    out = {}
    with tempfile.TemporaryDirectory() as d:
        pub, priv = make_keys(d)
        v1 = make_release(d, "1.0.0", priv)
        v2 = make_release(d, "2.0.0", priv)
        key = open(pub).read().strip()
        size = os.path.getsize(v2)
        mib = size / 1048576

        flash = provision(os.path.join(d, "flash.img"), v1, pub)
        data = open(v2, "rb").read()
        dev = FileBlockDevice(flash)
        t0 = time.perf_counter()
        a = Applier(dev, "upgrade", public_keys=[decode_public(key)])
        for i in range(0, len(data), 16384):
            a.feed(data[i:i + 16384])
        a.finish()
        t_apply = time.perf_counter() - t0
        dev.close()
        rows.append(("apply only (memory, 16 KiB pieces)", t_apply, mib / t_apply, 1.0))
        out["apply_mib_s"] = round(mib / t_apply, 2)

        for label, faults in (
                ("download + apply, clean", []),
                ("download + apply, 5 drops + one 200", [
                    {"drop_after": size // 50}, {"ignore_range": True, "drop_after": size // 3},
                    {"drop_after": size // 7}, {"drop_after": size // 9},
                    {"drop_after": size // 11}])):
            flash = provision(os.path.join(d, "flash.img"), v1, pub)
            dt, stats = asyncio.run(_update(v2, flash, key, faults))
            rows.append((label, dt, mib / dt, stats["sent"] / size))
            tag = "faults" if faults else "clean"
            out[tag + "_s"] = round(dt, 3)
            out[tag + "_bytes_ratio"] = round(stats["sent"] / size, 4)

    print("| scenario (%.2f MiB archive, CPython) | seconds | MiB/s | bytes sent / size |" % mib)
    print("|---|---|---|---|")
    for label, dt, rate, ratio in rows:
        print("| %s | %.3f | %.1f | %.3f |" % (label, dt, rate, ratio))
    return out


if __name__ == "__main__":
    main()
