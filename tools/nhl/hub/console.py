"""Simulator side of the ``console`` topic: relay, scrollback, file transfer, admin routes.

Like NervesHub's ConsoleChannel, the hub keeps a scrollback of the device's ``up`` output
(``SCROLLBACK_LINES`` lines), relays it to every watcher and forwards watchers' keystrokes
as ``dn``. Files the device sends with ``file-data/*`` are collected (chunk indexes are
checked); ``upload`` sends a host file to the device the way the web UI does (1024-byte
base64 chunks).

Admin routes (loopback, see ``admin.py``):

| method | path | body / answer |
|---|---|---|
| GET  | /admin/devices/{id}/console | ``{"scrollback": str, "files": {name: {"size", "complete", "sha256", "errors"}}}`` |
| GET  | /admin/devices/{id}/console/ws | websocket: send ``{"event": "dn"\\|"window_size"\\|"restart", "payload": {}}``; receive ``{"event": "up", "data"}``, ``{"event": "file", ...}``, ``{"event": "device", "connected": bool}`` |
| POST | /admin/devices/{id}/console/dn | ``{"data": str}`` |
| POST | /admin/devices/{id}/console/upload | ``{"file": path, "name"?: str, "chunk"?: 1024}`` -> ``{"chunks": n, "size": n}`` |
| GET  | /admin/devices/{id}/console/files/{name} | the bytes the device sent |
"""

import asyncio
import base64
import hashlib
import json
import os

from aiohttp import WSMsgType, web

from nhl.hub.webutil import json_body, live

SCROLLBACK_LINES = 1024
UPLOAD_CHUNK = 1024


class DeviceConsole:
    """Console state of one device identifier."""

    def __init__(self):
        self.lines = [""]
        self.watchers = set()  # asyncio.Queue per watcher
        self.files = {}  # name -> {"data": bytearray, "complete": bool, "next": int, "errors": []}

    def append(self, text):
        parts = text.split("\n")
        self.lines[-1] += parts[0]
        self.lines.extend(parts[1:])
        if len(self.lines) > SCROLLBACK_LINES:
            del self.lines[:len(self.lines) - SCROLLBACK_LINES]

    def scrollback(self):
        return "\n".join(self.lines)

    def file_summary(self):
        out = {}
        for name, f in self.files.items():
            out[name] = {"size": len(f["data"]), "complete": f["complete"],
                         "sha256": hashlib.sha256(bytes(f["data"])).hexdigest(),
                         "errors": list(f["errors"])}
        return out

    def broadcast(self, msg):
        for q in list(self.watchers):
            if q.qsize() < 10000:
                q.put_nowait(msg)


class ConsoleRelay:
    def __init__(self, hub):
        self.hub = hub
        self.devices = {}

    def device(self, ident):
        d = self.devices.get(ident)
        if d is None:
            d = self.devices[ident] = DeviceConsole()
        return d

    async def on_push(self, record, event, payload):
        """A device push on ``console``."""
        d = self.device(record.identifier)
        if not isinstance(payload, dict):
            return
        if event == "up":
            data = payload.get("data")
            if isinstance(data, str):
                d.append(data)
                d.broadcast({"event": "up", "data": data})
        elif event == "file-data/start":
            name = str(payload.get("filename"))
            d.files[name] = {"data": bytearray(), "complete": False, "next": 0, "errors": []}
            d.broadcast({"event": "file", "name": name, "state": "started"})
        elif event == "file-data":
            f = d.files.get(str(payload.get("filename")))
            if f is None:
                return
            if payload.get("chunk") != f["next"]:
                f["errors"].append("chunk %r, expected %d" % (payload.get("chunk"), f["next"]))
            f["next"] += 1
            try:
                raw = base64.b64decode(payload.get("data", ""), validate=True)
            except (ValueError, TypeError):  # a broken chunk is recorded, not a dropped link
                f["errors"].append("chunk %d: data is not base64: %r"
                                   % (f["next"] - 1, str(payload.get("data"))[:40]))
                return
            if len(raw) > UPLOAD_CHUNK:
                f["errors"].append("chunk %d has %d bytes" % (f["next"] - 1, len(raw)))
            f["data"] += raw
        elif event == "file-data/stop":
            name = str(payload.get("filename"))
            f = d.files.get(name)
            if f is not None:
                f["complete"] = True
                d.broadcast({"event": "file", "name": name, "state": "complete",
                             "size": len(f["data"])})

    def connection_changed(self, ident, connected):
        d = self.devices.get(ident)
        if d is not None:
            d.broadcast({"event": "device", "connected": connected})

    async def send(self, ident, event, payload):
        await self.hub.push(ident, "console", event, payload)

    async def upload(self, ident, path, name=None, chunk=UPLOAD_CHUNK):
        """Send a host file to the device's data_path like the web console does."""
        name = name if name is not None else os.path.basename(path)
        n = size = 0
        await self.send(ident, "file-data/start", {"filename": name, "uploaded_by": "nhl-hub"})
        with open(path, "rb") as f:
            while True:
                block = f.read(chunk)
                if not block:
                    break
                await self.send(ident, "file-data", {
                    "filename": name, "chunk": n, "data": base64.b64encode(block).decode()})
                n += 1
                size += len(block)
        await self.send(ident, "file-data/stop", {"filename": name})
        return {"chunks": n, "size": size}


def console_routes(hub):
    routes = web.RouteTableDef()
    relay = hub.console

    @routes.get("/admin/devices/{id}/console")
    async def show(request):
        d = relay.device(request.match_info["id"])
        return web.json_response({"scrollback": d.scrollback(), "files": d.file_summary()})

    @routes.post("/admin/devices/{id}/console/dn")
    async def dn(request):
        b = await json_body(request)
        await live(relay.send(request.match_info["id"], "dn", {"data": str(b.get("data", ""))}))
        return web.json_response({"ok": True})

    @routes.post("/admin/devices/{id}/console/upload")
    async def upload(request):
        b = await json_body(request)
        if "file" not in b or not os.path.isfile(b["file"]):
            raise web.HTTPBadRequest(text="file %r not found\n" % b.get("file"))
        r = await live(relay.upload(request.match_info["id"], b["file"], b.get("name"),
                                    int(b.get("chunk", UPLOAD_CHUNK))))
        return web.json_response(r)

    @routes.get("/admin/devices/{id}/console/files/{name}")
    async def file(request):
        d = relay.device(request.match_info["id"])
        f = d.files.get(request.match_info["name"])
        if f is None:
            raise web.HTTPNotFound(text="no such file\n")
        return web.Response(body=bytes(f["data"]), content_type="application/octet-stream")

    @routes.get("/admin/devices/{id}/console/ws")
    async def ws(request):
        ident = request.match_info["id"]
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        d = relay.device(ident)
        q = asyncio.Queue()
        d.watchers.add(q)
        rec = hub.state.devices.get(ident)
        await sock.send_str(json.dumps({"event": "device", "connected": bool(
            rec and rec.connection and "console" in rec.joined)}))

        async def pump():
            while True:
                await sock.send_str(json.dumps(await q.get()))

        task = asyncio.create_task(pump())
        try:
            async for msg in sock:
                if msg.type != WSMsgType.TEXT:
                    break
                try:
                    m = json.loads(msg.data)
                    await relay.send(ident, m["event"], m.get("payload") or {})
                except (ValueError, KeyError, TypeError) as e:
                    await sock.send_str(json.dumps({"event": "error", "reason": str(e)}))
        finally:
            task.cancel()
            d.watchers.discard(q)
        return sock

    return routes
