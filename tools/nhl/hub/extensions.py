"""Simulator side of the ``extensions`` topic (spec 3.3, 4.4, 11.4).

After a device join announcing ``device_api_version`` >= 2.2.0 the hub pushes
``extensions:get``; the ``extensions`` join is answered with the offered names that are
enabled (``enabled``, default health and geo). A push for an extension that is not enabled
gets the error reply ``"detach"``, like NervesHub. Reports are kept per device.

Admin routes:

| method | path | body / answer |
|---|---|---|
| GET  | /admin/devices/{id}/extensions | ``{"offered", "attached", "errors", "health", "geo"}`` |
| POST | /admin/devices/{id}/extensions/{event} | push ``event`` (``health:check``, ``geo:location:request``, ``attach``, ``detach``) with the JSON body as payload |
| POST | /admin/extensions | ``{"enabled": [names]}`` |
"""

from aiohttp import web

from nhl.hub.channels import frame, reply
from nhl.hub.webutil import live

MIN_API = (2, 2, 0)


def _version(v):
    out = []
    for p in str(v or "").split(".")[:3]:
        digits = ""
        for c in p:
            if not c.isdigit():
                break
            digits += c
        out.append(int(digits) if digits else 0)
    return tuple(out + [0] * (3 - len(out)))


class DeviceExtensions:
    def __init__(self):
        self.offered = {}
        self.attached = set()
        self.errors = []
        self.health = None  # last health:report value
        self.health_reports = 0
        self.geo = None
        self.events = []

    def summary(self):
        return {"offered": self.offered, "attached": sorted(self.attached),
                "errors": self.errors, "health": self.health,
                "health_reports": self.health_reports, "geo": self.geo}


class ExtensionsServer:
    def __init__(self, hub, enabled=("health", "geo")):
        self.hub = hub
        self.enabled = list(enabled)
        self.devices = {}

    def device(self, ident):
        d = self.devices.get(ident)
        if d is None:
            d = self.devices[ident] = DeviceExtensions()
        return d

    async def after_device_join(self, conn, params):
        if _version(params.get("device_api_version")) >= MIN_API:
            await conn.push("device", "extensions:get", {})

    def join_reply(self, record, payload):
        d = self.device(record.identifier)
        d.offered = dict(payload)
        d.attached = set()
        return [n for n in self.enabled if n in payload]

    async def on_push(self, conn, join_ref, ref, event, payload):
        d = self.device(conn.record.identifier)
        d.events.append(event)
        name, _, sub = event.partition(":")
        if name not in self.enabled:
            await conn.send_text(reply(join_ref, ref, "extensions", "error", "detach"))
            return
        if sub == "attached":
            d.attached.add(name)
        elif sub == "detached":
            d.attached.discard(name)
        elif sub == "error":
            d.errors.append({"extension": name, "payload": payload})
        elif event == "health:report" and isinstance(payload, dict):
            d.health = payload.get("value")
            d.health_reports += 1
        elif event == "geo:location:update":
            d.geo = payload

    async def push(self, ident, event, payload):
        rec = self.hub.state.devices.get(ident)
        if rec is None or rec.connection is None:
            raise KeyError("device %r is not connected" % ident)
        conn = rec.connection
        await conn.send_text(frame(conn.join_refs.get("extensions"), None, "extensions",
                                   event, payload))


def extension_routes(hub):
    routes = web.RouteTableDef()
    ext = hub.extensions

    @routes.get("/admin/devices/{id}/extensions")
    async def show(request):
        return web.json_response(ext.device(request.match_info["id"]).summary())

    @routes.post("/admin/devices/{id}/extensions/{event}")
    async def push(request):
        payload = await request.json() if request.can_read_body else {}
        await live(ext.push(request.match_info["id"], request.match_info["event"], payload))
        return web.json_response({"ok": True})

    @routes.post("/admin/extensions")
    async def enable(request):
        b = await request.json()
        ext.enabled = [n for n in b.get("enabled", []) if isinstance(n, str)]
        return web.json_response({"enabled": ext.enabled})

    return routes
