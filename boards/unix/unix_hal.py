"""MicroPython unix-port device HAL: socket + tls + asyncio streams, file-backed flash/KV.

TLS uses ``tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)`` (CERT_REQUIRED) with DER material
(this port's mbedTLS build cannot parse PEM; ``config.read_der`` converts PEM files) and
``server_hostname`` for SNI and host-name verification. A TLS connection's reader is a
``TLSStream``: it sees the server's close as end of stream at once (see there). ``ticks_ms``
never wraps (it accumulates ``time.ticks_diff``). ``reboot`` calls ``on_reboot``
(``main.py`` stops the link and restarts or exits).
Largest buffer: one ``read(n)`` (the caller's *n*).
"""

import asyncio
import os
import time
from asyncio import core as _core  # the I/O queue asyncio.Stream waits on

import tls
from nerves_hub_link.errors import ConfigError, TransportError
from nerves_hub_link.fsutil import makedirs
from nerves_hub_link.kv import JSONFileKV

DEFAULT_KV = {
    "nerves_fw_active": "a",
    "a.nerves_fw_product": "nhl-device",
    "a.nerves_fw_version": "0.0.0",
    "a.nerves_fw_platform": "unix",
    "a.nerves_fw_architecture": "micropython",
    "a.nerves_fw_uuid": "00000000-0000-0000-0000-000000000000",
}


class TLSStream(asyncio.StreamReader):
    """An asyncio stream over a ``tls`` socket whose ``read`` reports the peer's close at once.

    ``asyncio.Stream.read(n)`` calls the socket's ``read``, which loops until it has *n*
    bytes. When the server's close_notify arrives in the same segment as the last record,
    mbedTLS reports the end inside that loop, the loop returns the bytes it has, and the end
    is lost: the alert is consumed and the TCP connection stays open (asyncio's SSL transport
    waits up to 30 s for our close_notify), so later reads find nothing until a timeout.
    ``recv`` reads once, so the end comes back as ``b""``. A TCP reset still raises
    ``OSError`` (ECONNRESET), a FIN without close_notify reads as ``b""`` either way.
    A ``tls`` module without ``recv`` (built without DTLS) falls back to ``read``.
    """

    def __init__(self, s, e=None):
        super().__init__(s, e or {})
        self._read_once = getattr(s, "recv", None) or s.read

    def read(self, n=-1):
        # a generator like asyncio.Stream.read: each yield parks the task until readable
        if n < 0:
            n = 4096
        while True:
            yield _core._io_queue.queue_read(self.s)
            data = self._read_once(n)
            if data is not None:
                return data

    def readinto(self, buf):
        data = yield from self.read(len(buf))
        buf[:len(data)] = data
        return len(data)


class TLS:
    def __init__(self, context, server_name):
        self.context = context
        self.server_name = server_name


class UnixHAL:
    name = "micropython-unix"

    def __init__(self, data_path, kv_defaults=None):
        self.data_path = data_path
        try:
            makedirs(data_path)
        except OSError as e:
            raise ConfigError("cannot create data_path %s: %s" % (data_path, e),
                              hint="set data_path to a writable directory")
        self.kv = JSONFileKV(data_path + "/kv.json",
                             DEFAULT_KV if kv_defaults is None else kv_defaults)
        self._last = time.ticks_ms()
        self._acc = 0
        self._block_device = None
        self.on_reboot = None
        self.reboot_requested = False

    def ticks_ms(self):
        t = time.ticks_ms()
        self._acc += time.ticks_diff(t, self._last)
        self._last = t
        return self._acc

    def unix_time(self):
        return int(time.time())  # the unix port counts from 1970

    def rand(self, n):
        return os.urandom(n)

    async def sleep_ms(self, ms):
        await asyncio.sleep_ms(ms)

    def tls_context(self, ca_certs_der, cert_der=None, key_der=None, server_name=None):
        ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = tls.CERT_REQUIRED
        try:
            for der in ca_certs_der or ():  # each call adds one CA to the trusted chain
                ctx.load_verify_locations(bytes(der))
            if cert_der is not None:
                ctx.load_cert_chain(bytes(cert_der), bytes(key_der))
        except (ValueError, OSError) as e:
            raise ConfigError("TLS material does not load: %s" % e,
                              hint="use DER (or PEM files the config converts) for CA/cert/key")
        return TLS(ctx, server_name)

    async def open_connection(self, host, port, tls_=None):
        try:
            if tls_ is None:
                return await asyncio.open_connection(host, port)
            stream, _ = await asyncio.open_connection(host, port, ssl=tls_.context,
                                                      server_hostname=tls_.server_name or host)
            stream = TLSStream(stream.s, stream.e)
            return stream, stream
        except OSError as e:
            code = e.args[0] if e.args else e
            if isinstance(code, int) and code < 0:
                raise TransportError("TLS handshake failed: mbedTLS error -0x%04x" % -code,
                                     hint="server or client certificate refused")
            raise TransportError("cannot connect to %s:%s: %s" % (host, port, e))

    def block_device(self, path, size=0, block_size=512):
        if self._block_device is None:
            from nerves_hub_link.fwup.blockdev import FileBlockDevice

            self._block_device = FileBlockDevice(path)
        return self._block_device

    def reboot(self):
        self.reboot_requested = True
        if self.on_reboot:
            self.on_reboot()
