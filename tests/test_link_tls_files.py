"""The link reads its CA/cert/key files once per run, not at every reconnect."""

import asyncio
import os

from nerves_hub_link.client import Client
from nerves_hub_link.config import Config
from nerves_hub_link.link import Link


class Hal:
    def __init__(self):
        self.contexts = []
        self.paths = ()

    def ticks_ms(self):
        return 0

    def rand(self, n):
        return bytes(n)

    def tls_context(self, ca, cert, key, server_name):
        self.contexts.append((ca, cert, key))
        for p in self.paths:  # later reconnects must not need the files
            if os.path.exists(p):
                os.unlink(p)
        return object()

    async def open_connection(self, host, port, tls):
        raise OSError(111, "refused")


class FastRetry(Client):
    def __init__(self):
        self.errors = []
        self.link = None

    def reconnect_backoff(self):
        return [1]

    def handle_error(self, reason):
        self.errors.append(reason)
        if len(self.errors) == 3:
            self.link.stop()


def test_tls_files_are_read_once_per_run(tmp_path):
    paths = []
    for name, data in (("ca.der", b"\x30\x01"), ("c.der", b"\x30\x02"), ("k.der", b"\x30\x03")):
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    cfg = Config(ca_certs=paths[0], cert=paths[1], key=paths[2])
    hal = Hal()
    hal.paths = paths
    client = FastRetry()
    link = Link(cfg, hal, client)
    client.link = link
    asyncio.run(link.run())
    assert hal.contexts == [([b"\x30\x01"], b"\x30\x02", b"\x30\x03")] * 3
    assert all("ECONNREFUSED" in e for e in client.errors), client.errors
