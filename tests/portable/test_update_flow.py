# heapsize: 4M
# An update end to end on one interpreter: update manager + downloader + the real fwup applier
# on a RAM flash image, served by an in-memory HTTP server that drops connections and once
# ignores Range. Expected images are fwup's own (tests/fixtures/fwup/F03).
import asyncio

from nerves_hub_link import update_manager as um
from support import RamBlockDevice, fixture, read
from test_download_driver import Clock, Reader

F03 = "F03_ab_upgrade_uboot_redundant"
KEY = read(fixture("fwup", "keys", "fwup-key.pub")).decode()
OTHER = read(fixture("fwup", "keys", "other-key.pub")).decode()
UPDATE = {"firmware_url": "http://hub:4000/fw/f03.fw?token=t",
          "firmware_meta": {"uuid": "82a6774b-e5b5-5cbc-f5fa-b96df996137c", "version": "3.0.0"}}


def head(status, headers):
    lines = ["HTTP/1.1 %d X" % status] + ["%s: %s" % kv for kv in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Server:
    """Serves ``body`` with Range support; ``faults`` holds one entry per request:
    None (normal), ("drop", n) (close after n body bytes), ("ignore_range"[, n]) (200 with
    the whole body [closed after n bytes]) or ("status", code)."""

    def __init__(self, body, faults=()):
        self.body = body
        self.faults = list(faults)
        self.sent = 0
        self.requests = []

    def reply(self, request):
        start = 0
        for line in request.split(b"\r\n"):
            if line.lower().startswith(b"range: bytes="):
                start = int(line[13:].split(b"-")[0])
        fault = self.faults.pop(0) if self.faults else None
        self.requests.append((start, fault))
        size = len(self.body)
        if fault and fault[0] == "status":
            return [head(fault[1], [("Content-Length", 0)])]
        if start and not (fault and fault[0] == "ignore_range"):
            h = head(206, [("Content-Length", size - start),
                           ("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))])
        else:
            start = 0
            h = head(200, [("Content-Length", size)])
        part = self.body[start:]
        if fault and fault[0] in ("drop", "ignore_range") and len(fault) > 1:
            part = part[:fault[1]]
        self.sent += len(part)
        # deliver in 1 KiB pieces, like a socket would
        return [h] + [part[i:i + 1024] for i in range(0, len(part), 1024)]


class _Writer:
    def __init__(self, server):
        self.server = server
        self.pending = b""

    def write(self, b):
        self.pending = bytes(b)

    async def drain(self):
        pass

    def close(self):
        pass


def _server_open(server):
    async def open_connection(host, port, tls):
        w = _Writer(server)
        r = Reader([])

        async def drain():
            r.pieces = server.reply(w.pending)

        w.drain = drain
        return r, w

    return open_connection


class Rand:
    """Deterministic LCG so the "random" offsets are the same on both interpreters."""

    def __init__(self, seed):
        self.x = seed

    def below(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return self.x % n


FLASH = 262144  # the size of fwup's output after an upgrade into slot b


def _run(fw, faults, keys=(KEY,), start_img="s1_complete.img"):
    img = read(fixture("fwup", F03, start_img))
    dev = RamBlockDevice(FLASH // 512)
    dev.data[:len(img)] = img
    server = Server(fw, faults)
    pushed = []
    spawned = []
    clock = Clock()
    m = um.UpdateManager(lambda e, p: pushed.append((e, p)), um.applier_factory(dev),
                         _server_open(server), _ticker(clock), fwup_public_keys=keys,
                         sleep_ms=clock.sleep_ms, spawn=spawned.append,
                         reboot=lambda: pushed.append(("reboot", None)))
    m.on_update(UPDATE)
    while spawned:
        asyncio.run(_await(spawned.pop(0)))
    return dev, server, pushed, bytes(dev.data[:0]) + img + bytes(FLASH - len(img))


def _ticker(clock):
    def ticks():
        clock.now += 100  # 100 ms pass between two looks at the clock
        return clock.now

    return ticks


async def _await(c):
    return await c


def _statuses(pushed):
    return [p["status"] for e, p in pushed if e == "status_update"]


def test_update_survives_disconnects_and_a_200_on_resume():
    fw = read(fixture("fwup", F03, "signed.fw"))
    size = len(fw)
    rnd = Rand(2024)
    # Five connections dropped at random offsets; the 200-instead-of-206 answers the first
    # resume, which comes early (first 4 %): a 200 must restart the apply from byte 0, so
    # what was fetched before it is fetched twice.
    faults = [("drop", 1 + rnd.below(size * 4 // 100)),
              ("ignore_range", 1 + rnd.below(size // 5))]
    for _ in range(3):
        faults.append(("drop", 1 + rnd.below(size // 5)))
    dev, server, pushed, _ = _run(fw, faults)
    assert _statuses(pushed) == ["received"] + ["started"] * 6 + ["completed"]
    import gc

    gc.collect()
    expected = read(fixture("fwup", F03, "s2_upgrade_from_s1.img"))
    assert dev.data == expected
    assert len(server.requests) == 6
    assert [f[0] for _, f in server.requests[:5]] == ["drop", "ignore_range"] + ["drop"] * 3
    assert all(start for start, _ in server.requests[1:])  # every retry asked for a Range
    assert server.sent <= size * 105 // 100, (server.sent, size)
    values = [p["value"] for e, p in pushed if e == "fwup_progress"]
    assert values[0] == 0 and values[-1] == 100 and len(values) > 3
    assert all(values[i] < values[i + 1] for i in range(len(values) - 1))
    assert pushed[-1] == ("reboot", None)


def _env_blocks(dev):
    return bytes(dev.data[16 * 512:48 * 512])


def test_bad_signature_fails_and_leaves_flash_alone():
    fw = read(fixture("fwup", F03, "signed.fw"))
    dev, server, pushed, img = _run(fw, [], keys=(OTHER,))
    assert _statuses(pushed) == ["received", "started", "failed"]
    reason = pushed[-1][1]["reason"]
    assert reason.startswith("FWUP error") and "signature" in reason
    assert bytes(dev.data) == img
    assert ("reboot", None) not in pushed


def test_hash_mismatch_fails_and_keeps_running_slot():
    fw = bytearray(read(fixture("fwup", F03, "signed.fw")))
    # flip one byte deep inside the rootfs entry (stored data is checked against meta.conf)
    fw[len(fw) // 2] ^= 0xFF
    dev, server, pushed, img = _run(bytes(fw), [])
    assert _statuses(pushed) == ["received", "started", "failed"]
    assert pushed[-1][1]["reason"].startswith("FWUP error")
    # slot a (rootfs at block 64) and the U-Boot environment are untouched
    assert bytes(dev.data[64 * 512:320 * 512]) == img[64 * 512:320 * 512]
    assert _env_blocks(dev) == img[16 * 512:48 * 512]


def test_404_fails_without_retry():
    fw = read(fixture("fwup", F03, "signed.fw"))
    dev, server, pushed, img = _run(fw, [("status", 404)])
    assert _statuses(pushed) == ["received", "started", "failed"]
    assert "404" in pushed[-1][1]["reason"] and len(server.requests) == 1
    assert bytes(dev.data) == img
