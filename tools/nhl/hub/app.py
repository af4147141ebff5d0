"""The local NervesHub simulator: device websockets, firmware hosting, admin API.

Listeners (each optional, port 0 = ephemeral):

* TLS (``tls_port``): ``/socket/websocket`` and ``/device-socket/websocket`` with client
  certificate or NH1 shared-secret authentication (either on either path, like srv-HEAD),
  plus ``/firmware/<name>``.
* plain (``plain_port``, tests only): the same routes without TLS; a device may also identify
  itself with ``?identifier=NAME`` and no credentials (for browser/JS clients).
* admin (``admin_port``, loopback HTTP JSON): ``/admin/...`` (see ``admin.py``).
"""

import asyncio
import base64
import os
import ssl

from aiohttp import WSMsgType, web

from nhl.hub import firmware as fwmod
from nhl.hub.channels import Connection
from nhl.hub.console import ConsoleRelay
from nhl.hub.extensions import ExtensionsServer
from nhl.hub.state import Firmware, HubState

NO_CREDENTIALS = "no certificate pair or shared secrets connection settings were provided"
REASON_HEADER = "nh-connection-error-reason"
SOCKET_PATHS = ("/socket/websocket", "/device-socket/websocket")


def server_ssl_context(ca_file, cert_file, key_file):
    """TLS 1.2 server context that asks for (but does not require) a client certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    ctx.load_verify_locations(ca_file)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


class Hub:
    """The simulator. ``shared_secrets`` maps access key -> {"secret", "identifier"?}."""

    def __init__(self, ssl_context=None, shared_secrets=None, public_host="127.0.0.1",
                 allow_anonymous=False, log=print):
        self.ssl_context = ssl_context
        self.shared_secrets = dict(shared_secrets or {})
        self.public_host = public_host
        self.allow_anonymous = allow_anonymous
        self.log = log
        self.state = HubState()
        self.hooks = {}               # test hooks: drop_heartbeat_replies, refuse_join
        self.console = ConsoleRelay(self)
        self.extensions = ExtensionsServer(self)
        self.ports = {}
        self._runners = []

    # ---- lifecycle -------------------------------------------------------------------

    def device_app(self, tls):
        app = web.Application()
        for path in SOCKET_PATHS:
            app.router.add_get(path, self._socket_handler(tls))
        app.router.add_get("/firmware/{name}", self._firmware)
        return app

    async def start(self, host="127.0.0.1", tls_port=None, plain_port=None, admin_port=None):
        """Start the listeners asked for; return {"tls"|"plain"|"admin": port}."""
        from nhl.hub.admin import admin_app

        plan = []
        if tls_port is not None:
            if self.ssl_context is None:
                raise ValueError("a TLS listener needs an ssl_context (run `nhl hub --init DIR`)")
            plan.append(("tls", self.device_app(True), tls_port, self.ssl_context))
        if plain_port is not None:
            plan.append(("plain", self.device_app(False), plain_port, None))
        if admin_port is not None:
            plan.append(("admin", admin_app(self), admin_port, None))
        for name, app, port, ctx in plan:
            runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                   shutdown_timeout=0.5)
            await runner.setup()
            site = web.TCPSite(runner, host, port, ssl_context=ctx)
            await site.start()
            self._runners.append(runner)
            self.ports[name] = site._server.sockets[0].getsockname()[1]
        return dict(self.ports)

    async def stop(self):
        for rec in list(self.state.devices.values()):
            if rec.connection:
                await rec.connection.close(1001, b"hub stopping")
        for runner in self._runners:
            await runner.cleanup()
        self._runners = []

    # ---- authentication --------------------------------------------------------------

    def _authenticate(self, request, tls):
        """Return (identifier, method) or raise web.HTTPException (401 with a reason)."""
        if tls:
            sslobj = request.transport.get_extra_info("ssl_object") if request.transport else None
            der = sslobj.getpeercert(binary_form=True) if sslobj else None
            if der:
                from nhl.certs import peer_identifier

                ident = peer_identifier(der)
                if not ident:
                    raise self._refuse(request, 401, "certificate has no common name")
                return ident, "certificate"
        headers = {k.lower(): v for k, v in request.headers.items()}
        if "x-nh-signature" in headers or "x-nh-key" in headers:
            return self._verify_nh1(request, headers), "shared_secret"
        if not tls and self.allow_anonymous and request.query.get("identifier"):
            return request.query["identifier"], "anonymous"
        raise self._refuse(request, 401, NO_CREDENTIALS)

    def _verify_nh1(self, request, headers):
        from nerves_hub_link import auth
        from nerves_hub_link.errors import AuthError

        key = headers.get("x-nh-key", "")

        def lookup(k):
            entry = self.shared_secrets.get(k)
            return entry["secret"] if entry else None

        try:
            ident = auth.verify_shared_secret(
                headers, lookup, int(self.state.now() * 1000), max_age=self.state.settings["max_age_s"]
            )
        except AuthError as e:
            raise self._refuse(request, 401, "shared secret: %s" % e.message)
        bound = self.shared_secrets[key].get("identifier")
        if bound and bound != ident:
            raise self._refuse(request, 401, "device key %s is for %r, not %r" % (key, bound, ident))
        return ident

    def _refuse(self, request, status, reason, identifier=None):
        self.state.refuse(request.path, status, reason, identifier)
        self.log("nhl hub: refused %s %d: %s" % (request.path, status, reason))
        return _http_error(status, reason)

    # ---- device websockets -----------------------------------------------------------

    def _socket_handler(self, tls):
        async def handler(request):
            return await self._socket(request, tls)
        return handler

    async def _socket(self, request, tls):
        vsn = request.query.get("vsn")
        if not vsn or not vsn.startswith("2."):
            raise self._refuse(request, 400, "unsupported serializer vsn %r (send vsn=2.0.0)" % vsn)
        ident, method = self._authenticate(request, tls)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=self.state.settings["max_message"],
                                   compress=False)
        await ws.prepare(request)
        rec = self.state.device(ident)
        old = rec.connection
        if old is not None:
            await old.close(1000, b"replaced by a newer connection")

        async def send(text):
            await ws.send_str(text)

        async def close(code, message):
            await ws.close(code=code, message=message)

        async def raw_frame(data, opcode):
            await ws.send_frame(data, opcode)

        conn = Connection(self, rec, send, close, peer=request.remote)
        conn.raw_frame = raw_frame
        rec.connection = conn
        rec.auth = method
        rec.joined = set()
        rec.connections += 1
        self.log("nhl hub: %s connected (%s)" % (ident, method))
        await self.state.notify()
        try:
            while True:
                msg = await ws.receive(timeout=self.state.settings["idle_timeout_s"])
                if msg.type == WSMsgType.TEXT:
                    await conn.on_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await conn.on_binary(msg.data)
                else:
                    break
        except asyncio.TimeoutError:
            self.log("nhl hub: %s idle, closing" % ident)
            await ws.close(code=1000, message=b"idle timeout")
        finally:
            conn.closed = True
            if rec.connection is conn:
                rec.connection = None
                rec.joined = set()
            self.log("nhl hub: %s disconnected" % ident)
            self.console.connection_changed(ident, False)
            await self.state.notify()
        return ws

    async def after_device_join(self, conn, params):
        rec = conn.record
        upd = rec.pending_update
        if upd and upd["firmware_meta"].get("uuid") != params.get("currently_downloading_uuid"):
            await conn.push("device", "update", upd)
        await self.extensions.after_device_join(conn, params)

    # ---- admin operations (also used in-process by tests) -----------------------------

    def _live(self, identifier):
        rec = self.state.devices.get(identifier)
        if rec is None or rec.connection is None:
            raise KeyError("device %r is not connected" % identifier)
        return rec.connection

    async def push(self, identifier, topic, event, payload):
        await self._live(identifier).push(topic, event, payload)

    async def send_raw(self, identifier, text=None, data=None, opcode="text"):
        """Send a raw websocket frame: *text* (str) or *data* (bytes, sent with *opcode*)."""
        conn = self._live(identifier)
        if text is not None:
            await conn.send_text(text)
            return
        op = WSMsgType.TEXT if opcode == "text" else WSMsgType.BINARY
        await conn.raw_frame(bytes(data), op)

    async def disconnect(self, identifier, code=1000):
        await self._live(identifier).close(code, b"disconnected by admin")

    def add_firmware(self, path, name=None):
        name = name or os.path.basename(path)
        fw = Firmware(name, os.path.abspath(path), fwmod.read_meta(path))
        self.state.firmware[name] = fw
        return fw

    def firmware_url(self, name, tls=True):
        scheme, port = ("https", self.ports.get("tls")) if tls and "tls" in self.ports else (
            "http", self.ports.get("plain"))
        return "%s://%s:%s/firmware/%s" % (scheme, self.public_host, port, name)

    async def deploy(self, identifier, path, name=None):
        """Host *path* and send an `update` to the device now (or when it next joins)."""
        fw = self.add_firmware(path, name)
        payload = fwmod.update_payload(self.firmware_url(fw.name), fw.path, fw.meta)
        rec = self.state.device(identifier)
        rec.pending_update = payload
        if rec.connection is not None and "device" in rec.joined:
            await rec.connection.push("device", "update", payload)
        await self.state.notify()
        return payload

    # ---- firmware hosting ------------------------------------------------------------

    async def _firmware(self, request):
        fw = self.state.firmware.get(request.match_info["name"])
        if fw is None:
            raise web.HTTPNotFound()
        fault = fw.faults.pop(0) if fw.faults else {}
        entry = {"range": request.headers.get("Range"), "fault": fault, "sent": 0,
                 "retry": request.headers.get("X-Retry-Number")}
        fw.requests.append(entry)
        try:
            return await self._serve_file(request, fw, fault, entry)
        finally:
            await self.state.notify()

    async def _serve_file(self, request, fw, fault, entry):
        if fault.get("status"):
            entry["status"] = int(fault["status"])
            return web.Response(status=entry["status"], text="injected fault\n")
        size = os.path.getsize(fw.path)
        rng = None
        if not fault.get("ignore_range"):
            try:
                rng = fwmod.parse_range(request.headers.get("Range"), size)
            except ValueError:
                entry["status"] = 416
                return web.Response(status=416, headers={"Content-Range": "bytes */%d" % size})
        start, end = rng if rng else (0, size - 1)
        resp = web.StreamResponse(status=206 if rng else 200)
        resp.content_length = end - start + 1
        resp.headers["Accept-Ranges"] = "bytes"
        resp.headers["Content-Type"] = "application/octet-stream"
        if rng:
            resp.headers["Content-Range"] = "bytes %d-%d/%d" % (start, end, size)
        entry["status"] = resp.status
        await resp.prepare(request)
        drop_after = fault.get("drop_after")
        stall_after = fault.get("stall_after", 0) if fault.get("stall") else None
        with open(fw.path, "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                n = min(left, 16384)
                for limit in (drop_after, stall_after):
                    if limit is not None and entry["sent"] < limit:
                        n = min(n, limit - entry["sent"])
                if drop_after is not None and entry["sent"] >= drop_after:
                    request.transport.close()
                    return resp
                if stall_after is not None and entry["sent"] >= stall_after:
                    await asyncio.sleep(float(fault.get("stall_s", 3600)))
                    stall_after = None
                    continue
                chunk = f.read(n)
                await resp.write(chunk)
                entry["sent"] += len(chunk)
                left -= len(chunk)
        await resp.write_eof()
        return resp


def _http_error(status, reason):
    cls = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden}.get(
        status, web.HTTPUnauthorized)
    return cls(headers={REASON_HEADER: reason}, text=reason + "\n")


def b64decode(text):
    return base64.b64decode(text.encode("ascii"))
