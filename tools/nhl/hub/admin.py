"""Admin HTTP JSON API of the simulator (loopback only; no authentication).

| method | path | body / answer |
|---|---|---|
| GET  | /admin/status | ports, settings, refusals |
| GET  | /admin/devices | list of device summaries |
| GET  | /admin/devices/{id} | summary + join params + ``messages`` (``?since=N`` skips N) |
| POST | /admin/devices/{id}/push | ``{"topic": "device", "event", "payload"}`` |
| POST | /admin/devices/{id}/raw | ``{"text": str}`` or ``{"b64": str, "opcode": "text"\\|"binary"}`` |
| POST | /admin/devices/{id}/deploy | ``{"file": path}`` -> the `update` payload |
| POST | /admin/devices/{id}/disconnect | ``{"code": 1000}`` |
| POST | /admin/firmware | ``{"file": path, "name"?}`` -> ``{"name", "url"}`` |
| POST | /admin/firmware/{name}/faults | ``{"faults": [{"status": 500} \\| {"drop_after": n} \\| {"stall": true, "stall_after": n, "stall_s": s} \\| {"ignore_range": true}, ...]}`` one per request |
| GET  | /admin/firmware/{name}/requests | every request: range, status, bytes sent, fault |
| POST | /admin/settings | ``{"max_age_s", "clock_offset_s", "idle_timeout_s"}`` |
| POST | /admin/hooks | ``{"drop_heartbeat_replies": bool, "refuse_join": [topics]}`` |

Console and extensions routes: see ``console.py`` and ``extensions.py``.
"""

import base64
import os

from aiohttp import web

from nhl.hub.webutil import json_body, live

FAULT_KEYS = {"status": int, "drop_after": int, "stall": bool, "stall_after": int,
              "stall_s": (int, float), "ignore_range": bool}


def _fault_plan(plan):
    """The checked fault list (HTTP 400 naming the bad entry; a bad plan used to fail the
    firmware request it was meant for with a 500)."""
    if not isinstance(plan, list):
        raise web.HTTPBadRequest(text="faults must be a JSON list, got %r\n" % (plan,))
    for i, f in enumerate(plan):
        if not isinstance(f, dict):
            raise web.HTTPBadRequest(text="faults[%d] must be an object, got %r\n" % (i, f))
        for k, v in f.items():
            want = FAULT_KEYS.get(k)
            if want is None or not isinstance(v, want) or (want is int and isinstance(v, bool)):
                raise web.HTTPBadRequest(
                    text="faults[%d]: bad %s=%r (keys: %s)\n" % (i, k, v, ", ".join(FAULT_KEYS)))
    return plan


def admin_app(hub):
    routes = web.RouteTableDef()

    def existing_file(b):
        path = b.get("file")
        if not isinstance(path, str) or not os.path.isfile(path):
            raise web.HTTPBadRequest(text="file %r not found\n" % (path,))
        return path

    def rec_or_404(request):
        rec = hub.state.devices.get(request.match_info["id"])
        if rec is None:
            raise web.HTTPNotFound(text="unknown device\n")
        return rec

    @routes.get("/admin/status")
    async def status(request):
        return web.json_response({"ports": hub.ports, "settings": hub.state.settings,
                                  "refusals": hub.state.refusals, "hooks": hub.hooks})

    @routes.get("/admin/devices")
    async def devices(request):
        return web.json_response([r.summary() for r in hub.state.devices.values()])

    @routes.get("/admin/devices/{id}")
    async def device(request):
        rec = rec_or_404(request)
        since = int(request.query.get("since", "0"))
        out = rec.summary()
        out["join_params"] = rec.join_params
        out["refusals"] = rec.refusals
        out["messages"] = rec.messages[since:]
        return web.json_response(out)

    @routes.post("/admin/devices/{id}/push")
    async def push(request):
        b = await json_body(request, optional=True)
        if not isinstance(b.get("event"), str):
            raise web.HTTPBadRequest(text="body needs an \"event\" string\n")
        await live(hub.push(request.match_info["id"], b.get("topic", "device"),
                            b["event"], b.get("payload", {})))
        return web.json_response({"ok": True})

    @routes.post("/admin/devices/{id}/raw")
    async def raw(request):
        b = await json_body(request, optional=True)
        ident = request.match_info["id"]
        if "text" in b:
            await live(hub.send_raw(ident, text=b["text"]))
        else:
            data = base64.b64decode(b.get("b64", ""))
            await live(hub.send_raw(ident, data=data, opcode=b.get("opcode", "binary")))
        return web.json_response({"ok": True})

    @routes.post("/admin/devices/{id}/deploy")
    async def deploy(request):
        b = await json_body(request, optional=True)
        payload = await hub.deploy(request.match_info["id"], existing_file(b), b.get("name"))
        return web.json_response(payload)

    @routes.post("/admin/devices/{id}/disconnect")
    async def disconnect(request):
        b = await json_body(request, optional=True)
        await live(hub.disconnect(request.match_info["id"], int(b.get("code", 1000))))
        return web.json_response({"ok": True})

    @routes.post("/admin/firmware")
    async def add_firmware(request):
        b = await json_body(request, optional=True)
        fw = hub.add_firmware(existing_file(b), b.get("name"))
        return web.json_response({"name": fw.name, "url": hub.firmware_url(fw.name),
                                  "meta": fw.meta})

    @routes.post("/admin/firmware/{name}/faults")
    async def faults(request):
        fw = hub.state.firmware.get(request.match_info["name"])
        if fw is None:
            raise web.HTTPNotFound(text="unknown firmware %r (host it first: `nhl hub deploy`"
                                        " or POST /admin/firmware)\n" % request.match_info["name"])
        b = await json_body(request, optional=True)
        fw.faults = _fault_plan(b.get("faults", []))
        return web.json_response({"ok": True, "faults": fw.faults})

    @routes.get("/admin/firmware/{name}/requests")
    async def requests(request):
        fw = hub.state.firmware.get(request.match_info["name"])
        if fw is None:
            raise web.HTTPNotFound(text="unknown firmware\n")
        return web.json_response(fw.requests)

    @routes.post("/admin/settings")
    async def settings(request):
        b = await json_body(request, optional=True)
        for k, v in b.items():
            if k not in hub.state.settings:
                raise web.HTTPBadRequest(text="unknown setting %r\n" % k)
            hub.state.settings[k] = v
        return web.json_response(hub.state.settings)

    @routes.post("/admin/hooks")
    async def hooks(request):
        hub.hooks.update(await json_body(request, optional=True))
        return web.json_response(hub.hooks)

    from nhl.hub.console import console_routes
    from nhl.hub.extensions import extension_routes

    app = web.Application()
    app.add_routes(routes)
    app.add_routes(console_routes(hub))
    app.add_routes(extension_routes(hub))
    return app
