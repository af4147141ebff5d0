"""The Link's public API, in-process on CPython against the simulator: status, pushes,
dispatch registry, replies, defaults for server events, recovery paths."""

import asyncio
import json

import pytest
from nerves_hub_link import log
from nerves_hub_link.client import Client
from nerves_hub_link.config import Config
from nerves_hub_link.link import Link
from nhl.hub import init_dir
from nhl.hub.testing import HubThread, device_config
from nhl_port.device import CPythonHAL


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("hub"))
    init_dir(d)
    h = HubThread(d)
    yield h
    h.stop()


@pytest.fixture
def lines():
    out = []
    old = log.set_sink(out.append)
    yield out
    log.set_sink(old)


class Recorder(Client):
    def __init__(self):
        self.errors = []
        self.identified = 0
        self.rebooted = 0
        self.connects = 0

    def handle_error(self, reason):
        self.errors.append(reason)

    def identify(self):
        self.identified += 1

    def reboot(self):
        self.rebooted += 1

    def connected(self):
        self.connects += 1
        raise RuntimeError("a buggy callback")  # must not disturb the link


def make_link(hub, tmp_path, client=None, **extra):
    path = device_config(hub, str(tmp_path), "api", **extra)
    cfg = Config.from_json_file(path).validate()
    return Link(cfg, CPythonHAL(cfg.data_path), client or Recorder())


async def until(pred, timeout=5):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not met within %ss" % timeout)
        await asyncio.sleep(0.01)


async def hub_wait(hub, pred, what):
    await asyncio.to_thread(hub.wait, pred, 5, what)


def run_with(link, body):
    async def main():
        task = asyncio.create_task(link.run())
        try:
            await until(link.connected)
            return await body()
        finally:
            link.stop()
            await asyncio.wait_for(task, 5)
    return asyncio.run(main())


def test_status_and_pushes(hub, tmp_path, lines):
    link = make_link(hub, tmp_path)
    assert link.status()["state"] == "idle" and not link.connected()
    assert link.push("device", "x", {"n": 1}) is None  # offline: queued, no exception
    assert link.push("console", "up", {"data": "x"}) is None  # offline, other topic: dropped

    async def body():
        st = link.status()
        assert st["socket_connected"] and st["joined"] == ["device"] and st["connections"] == 1
        assert link.user_client.connects == 1
        assert link.send_update_progress(42) is not None
        assert link.send_update_status("downloading", reason="x") is not None
        await link.flush()
        await hub_wait(hub, lambda s: s.devices["device-1"].progress == 42 and
                       s.devices["device-1"].status == "downloading", "pushes")
        assert [m["payload"] for m in hub.messages("device-1", "x")] == [{"n": 1}]
        msgs = hub.messages("device-1", "status_update")
        assert msgs[-1]["payload"] == {"status": "downloading", "reason": "x"}
        assert msgs[-1]["join_ref"] == "1"  # pushes carry the topic's join_ref
    run_with(link, body)
    assert link.status()["state"] == "stopped"
    assert "nhl: progress: 42%" in lines
    assert any("client.connected raised RuntimeError" in x for x in lines)


def test_dispatch_registry(hub, tmp_path, lines):
    link = make_link(hub, tmp_path)
    got = []
    off = link.on("device", "custom", lambda ev, p: got.append(("custom", p)))
    link.on("device", "*", lambda ev, p: got.append(("any", ev)))

    async def coro_handler(ev, p):
        await asyncio.sleep(0)
        got.append(("async", p))
    link.on("device", "later", coro_handler)
    link.on("device", "boom", lambda ev, p: 1 / 0)

    async def body():
        for ev, p in (("custom", {"n": 1}), ("other", {}), ("later", {"n": 2}), ("boom", {})):
            await asyncio.to_thread(hub.call, hub.hub.push("device-1", "device", ev, p))
        await until(lambda: len(got) == 3)
        off()
        await asyncio.to_thread(hub.call, hub.hub.push("device-1", "device", "custom", {}))
        await until(lambda: len(got) == 4)
        return list(got)

    got_final = run_with(link, body)
    assert got_final == [("custom", {"n": 1}), ("any", "other"), ("async", {"n": 2}),
                         ("any", "custom")]
    assert any("handler for device/boom raised ZeroDivisionError" in x for x in lines)


def test_refused_join_of_another_topic_keeps_the_device_topic(hub, tmp_path, lines):
    link = make_link(hub, tmp_path)

    async def body():
        link._ch.join("lonely", {})  # the hub answers {"reason": "unmatched topic"}
        link._out_event.set()
        await until(lambda: any("join of lonely refused" in x for x in lines))
        assert link.connected() and link.status()["joined"] == ["device"]
    run_with(link, body)


def test_request_without_reply_times_out(hub, tmp_path):
    link = make_link(hub, tmp_path)

    async def body():
        # NervesHub never answers ordinary device pushes: the request hits its deadline
        from nerves_hub_link.errors import TransportError

        with pytest.raises(TransportError, match="timed out after 200 ms"):
            await link.request("device", "status_update", {"status": "x"}, timeout_ms=200)
        assert link.connected()
    run_with(link, body)


def test_default_handlers(hub, tmp_path, lines):
    client = Recorder()
    link = make_link(hub, tmp_path, client)

    async def body():
        push = hub.hub.push
        await asyncio.to_thread(hub.call, push("device-1", "device", "identify", {}))
        await asyncio.to_thread(hub.call, push("device-1", "device", "fwup_public_keys",
                                               {"keys": ["k1", 5, "k2"]}))
        await asyncio.to_thread(hub.call, push("device-1", "device", "fwup_public_keys",
                                               {"keys": []}))
        await asyncio.to_thread(hub.call, push("device-1", "device", "scripts/run",
                                               {"text": "IO.puts(1)", "ref": "r1"}))
        await asyncio.to_thread(hub.call, push("device-1", "device", "extensions:get", {}))
        await asyncio.to_thread(hub.call, push("device-1", "device", "reboot", {}))
        await until(lambda: client.rebooted == 1)
        await hub_wait(hub, lambda s: "extensions" in s.devices["device-1"].joined, "ext join")
        assert client.identified == 1
        assert link.fwup_public_keys == ["k1", "k2"]  # an empty list never clears
        script = hub.messages("device-1", "scripts/run")[-1]["payload"]
        assert script["ref"] == "r1" and script["result"] == "error"
        assert hub.messages("device-1", "rebooting")
        assert hub.device("device-1").join_params["extensions"] == {}
    run_with(link, body)


def test_join_payload_and_console(hub, tmp_path):
    link = make_link(hub, tmp_path, remote_console=True, params={"site": "lab"},
                     fwup_public_keys=["abc"])

    async def body():
        await hub_wait(hub, lambda s: "console" in s.devices["device-1"].joined, "console")
        params = hub.device("device-1").join_params
        assert params["console"] == {"console_version": "2.0.0", "device_api_version": "2.0.0"}
        d = params["device"]
        assert d["site"] == "lab" and "fwup_public_keys" not in d
        assert "archive_public_keys" not in d  # falls back to the fwup keys
        assert d["meta"] == {"firmware_validated": True, "firmware_auto_revert_detected": False}
        assert json.dumps(d)  # plain JSON
    run_with(link, body)


def test_reconnect_and_mark_down_twice(hub, tmp_path, lines):
    client = Recorder()
    link = make_link(hub, tmp_path, client)

    async def body():
        assert link.mark_down("test: first") is True
        assert link.mark_down("test: second") is False  # safe to call twice
        assert client.errors.count("test: first") == 1 and "test: second" not in client.errors
        await until(link.connected)
        assert link.status()["connections"] == 2
        link.reconnect()
        await until(lambda: link.status()["connections"] == 3 and link.connected())
    run_with(link, body)
    assert "nhl: error: test: first" in lines
    assert "nhl: disconnected: reconnect requested" in lines


def test_connect_false_does_nothing(hub, tmp_path, lines):
    link = make_link(hub, tmp_path, connect=False)
    asyncio.run(asyncio.wait_for(link.run(), 2))
    assert lines == ["nhl: disabled: connect is false"]


def test_offline_device_pushes_are_bounded(hub, tmp_path):
    link = make_link(hub, tmp_path)
    for i in range(20):
        link.push("device", "status_update", {"i": i})
    assert link.offline_dropped == 4
    assert [p["i"] for _, p in link._offline] == list(range(4, 20))  # the oldest went first
