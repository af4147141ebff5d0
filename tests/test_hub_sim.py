"""The simulator on its own: upgrade refusals, Phoenix server behaviour, firmware hosting with
Range and injected faults, the admin API and the `nhl hub` CLI."""

import asyncio
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import aiohttp
import pytest
from nerves_hub_link import auth
from nhl.hub import load_settings
from nhl.hub.testing import ROOT

FW = os.path.join(ROOT, "tests", "fixtures", "fwup", "F01_raw_write_basic", "signed.fw")


@pytest.fixture(scope="module")
def hub(plain_hub):
    return plain_hub


def _tls_ctx(hub):
    ctx = ssl.create_default_context(cafile=os.path.join(hub.dir, "ca.pem"))
    return ctx


def _admin(hub, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (hub.ports["admin"], path), data=data,
                                 method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


async def _get(url, headers=None, ssl_ctx=None, timeout=5):
    async with aiohttp.ClientSession() as s:
        async with s.get(url, headers=headers or {}, ssl=ssl_ctx,
                         timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            return r.status, dict(r.headers), await r.read()


def test_upgrade_without_vsn_is_refused(hub):
    status, headers, _ = asyncio.run(_get(
        "https://127.0.0.1:%d/socket/websocket" % hub.ports["tls"], ssl_ctx=_tls_ctx(hub)))
    assert status == 400
    assert "vsn=2.0.0" in headers["nh-connection-error-reason"]


def test_upgrade_without_credentials_is_401_with_reason(hub):
    status, headers, _ = asyncio.run(_get(
        "https://127.0.0.1:%d/socket/websocket?vsn=2.0.0" % hub.ports["tls"],
        ssl_ctx=_tls_ctx(hub)))
    assert status == 401
    assert headers["nh-connection-error-reason"] == (
        "no certificate pair or shared secrets connection settings were provided")


def test_device_key_bound_to_another_identifier_is_refused(hub):
    secrets = load_settings(hub.dir)["shared_secrets"]
    key = [k for k in secrets if k.startswith("nhd_")][0]
    headers = dict(auth.shared_secret_headers(key, secrets[key]["secret"], "intruder",
                                              int(hub.hub.state.now())))
    status, h, _ = asyncio.run(_get(
        "https://127.0.0.1:%d/device-socket/websocket?vsn=2.0.0" % hub.ports["tls"],
        headers=headers, ssl_ctx=_tls_ctx(hub)))
    assert status == 401
    assert "not 'intruder'" in h["nh-connection-error-reason"]


async def _ws_session(hub, ident, script):
    url = "ws://127.0.0.1:%d/socket/websocket?vsn=2.0.0&identifier=%s" % (hub.ports["plain"],
                                                                          ident)
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url) as ws:
            return await script(ws)


async def _recv(ws):
    msg = await ws.receive(timeout=5)
    return json.loads(msg.data)


def test_phoenix_server_replies_like_phoenix(hub):
    async def script(ws):
        await ws.send_str(json.dumps(["1", "1", "device", "phx_join", {"nerves_fw_uuid": "u"}]))
        join = await _recv(ws)
        await ws.send_str(json.dumps([None, "2", "phoenix", "heartbeat", {}]))
        hb = await _recv(ws)
        await ws.send_str(json.dumps([None, "3", "console", "up", {"data": "x"}]))
        unmatched = await _recv(ws)
        await ws.send_str(json.dumps(["4", "4", "nosuch", "phx_join", {}]))
        bad_topic = await _recv(ws)
        await ws.send_str(json.dumps(["1", "5", "device", "fwup_progress", {"value": 42}]))
        await ws.send_str(json.dumps(["1", "6", "device", "phx_leave", {}]))
        leave_reply = await _recv(ws)
        close = await _recv(ws)
        return join, hb, unmatched, bad_topic, leave_reply, close

    join, hb, unmatched, bad_topic, leave_reply, close = asyncio.run(
        _ws_session(hub, "phx-1", script))
    assert join == ["1", "1", "device", "phx_reply", {"status": "ok", "response": {}}]
    assert hb == [None, "2", "phoenix", "phx_reply", {"status": "ok", "response": {}}]
    assert unmatched == [None, "3", "console", "phx_reply",
                         {"status": "error", "response": {"reason": "unmatched topic"}}]
    assert bad_topic[4]["status"] == "error"
    assert leave_reply == ["1", "6", "device", "phx_reply", {"status": "ok", "response": {}}]
    assert close == ["1", "1", "device", "phx_close", {}]
    rec = _admin(hub, "GET", "/admin/devices/phx-1")
    assert rec["progress"] == 42 and rec["heartbeats"] == 1
    events = [m["event"] for m in rec["messages"]]
    assert events == ["phx_join", "heartbeat", "up", "phx_join", "fwup_progress", "phx_leave"]


def test_newest_connection_wins(hub):
    async def script():
        url = "ws://127.0.0.1:%d/socket/websocket?vsn=2.0.0&identifier=dup" % hub.ports["plain"]
        async with aiohttp.ClientSession() as s:
            first = await s.ws_connect(url)
            await first.send_str(json.dumps(["1", "1", "device", "phx_join", {}]))
            await _recv(first)
            second = await s.ws_connect(url)
            msg = await first.receive(timeout=5)
            await second.close()
            return msg.type, first.close_code

    kind, code = asyncio.run(script())
    assert kind == aiohttp.WSMsgType.CLOSE and code == 1000


def test_deploy_from_cli_pushes_update_with_fixture_meta(hub):
    async def script(ws):
        await ws.send_str(json.dumps(["1", "1", "device", "phx_join", {}]))
        await _recv(ws)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            os.path.join(ROOT, p) for p in ("lib", "port_cpython", "tools")))
        admin = "http://127.0.0.1:%d" % hub.ports["admin"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "nhl", "hub", "--admin", admin, "deploy", "cli-dev", FW,
            env=env, stdout=subprocess.PIPE)
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        return await _recv(ws), out.decode()

    update, out = asyncio.run(_ws_session(hub, "cli-dev", script))
    assert update[:4] == ["1", None, "device", "update"]
    p = update[4]
    assert p["firmware_meta"]["uuid"] == "78ff273a-6475-5b82-2650-da011c72f8b2"
    assert p["firmware_meta"]["product"] == "fixture01"
    assert p["size"] == os.path.getsize(FW)
    assert p["firmware_url"].endswith("/firmware/signed.fw") and "deployed" in out
    import hashlib

    with open(FW, "rb") as f:
        assert p["checksum"] == hashlib.sha256(f.read()).hexdigest().upper()
    devs = subprocess.run([sys.executable, "-m", "nhl", "hub", "--admin",
                           "http://127.0.0.1:%d" % hub.ports["admin"], "devices"],
                          capture_output=True, text=True, cwd=ROOT, env=dict(
                              os.environ, PYTHONPATH="lib:port_cpython:tools"))
    assert "cli-dev" in devs.stdout and devs.returncode == 0


def _fw_url(hub, name="signed.fw"):
    return "https://127.0.0.1:%d/firmware/%s" % (hub.ports["tls"], name)


@pytest.fixture
def firmware(hub):
    _admin(hub, "POST", "/admin/firmware", {"file": FW})
    with open(FW, "rb") as f:
        return f.read()


def test_firmware_full_and_range(hub, firmware):
    status, headers, body = asyncio.run(_get(_fw_url(hub), ssl_ctx=_tls_ctx(hub)))
    assert status == 200 and body == firmware and headers["Accept-Ranges"] == "bytes"
    status, headers, body = asyncio.run(_get(_fw_url(hub), {"Range": "bytes=100-"},
                                             _tls_ctx(hub)))
    assert status == 206 and body == firmware[100:]
    assert headers["Content-Range"] == "bytes 100-%d/%d" % (len(firmware) - 1, len(firmware))
    # NervesHubLink 2.2.0 asks for one past the end: the server clamps it
    status, _, body = asyncio.run(_get(_fw_url(hub), {"Range": "bytes=10-%d" % len(firmware)},
                                       _tls_ctx(hub)))
    assert status == 206 and body == firmware[10:]
    status, headers, _ = asyncio.run(_get(_fw_url(hub), {"Range": "bytes=%d-" % len(firmware)},
                                          _tls_ctx(hub)))
    assert status == 416 and headers["Content-Range"] == "bytes */%d" % len(firmware)


def test_firmware_faults_apply_one_per_request(hub, firmware):
    _admin(hub, "POST", "/admin/firmware/signed.fw/faults",
           {"faults": [{"status": 500}, {"ignore_range": True}, {"drop_after": 1000}]})
    ctx = _tls_ctx(hub)
    assert asyncio.run(_get(_fw_url(hub), ssl_ctx=ctx))[0] == 500
    status, _, body = asyncio.run(_get(_fw_url(hub), {"Range": "bytes=100-"}, ctx))
    assert status == 200 and body == firmware  # the server ignored Range

    async def short():
        async with aiohttp.ClientSession() as s:
            async with s.get(_fw_url(hub), ssl=ctx) as r:
                got = bytearray()
                with pytest.raises(aiohttp.ClientPayloadError):
                    async for chunk in r.content.iter_chunked(4096):
                        got.extend(chunk)
                return r.status, bytes(got)

    status, got = asyncio.run(short())
    assert status == 200 and got == firmware[:1000]
    status, _, body = asyncio.run(_get(_fw_url(hub), ssl_ctx=ctx))  # plan used up
    assert status == 200 and body == firmware
    reqs = _admin(hub, "GET", "/admin/firmware/signed.fw/requests")[-4:]
    assert [r["status"] for r in reqs] == [500, 200, 200, 200]
    assert [r["sent"] for r in reqs] == [0, len(firmware), 1000, len(firmware)]


def test_firmware_stall_fault(hub, firmware):
    _admin(hub, "POST", "/admin/firmware/signed.fw/faults",
           {"faults": [{"stall": True, "stall_after": 500, "stall_s": 30}]})

    async def stalled():
        async with aiohttp.ClientSession() as s:
            async with s.get(_fw_url(hub), ssl=_tls_ctx(hub)) as r:
                got = await r.content.readexactly(500)
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(r.content.read(1), 0.3)
                return got

    assert asyncio.run(stalled()) == firmware[:500]


def test_admin_settings_and_unknown_device(hub):
    s = _admin(hub, "POST", "/admin/settings", {"max_age_s": 60})
    assert s["max_age_s"] == 60
    _admin(hub, "POST", "/admin/settings", {"max_age_s": 90})
    with pytest.raises(urllib.error.HTTPError) as e:
        _admin(hub, "POST", "/admin/devices/ghost/push", {"event": "reboot"})
    assert e.value.code == 409
