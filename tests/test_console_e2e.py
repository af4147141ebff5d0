"""The remote console and extensions with real device processes (CPython `nhl device` and
MicroPython `boards/unix/main.py`) against the simulator: a REPL session that keeps state,
shows tracebacks, survives a disconnect and times out with the banner; a 200 KiB upload;
traversal refused; send_file from the device; health reports."""

import hashlib
import os

import pytest
from nhl.hub import init_dir
from nhl.hub.testing import DeviceProcess, HubThread, device_config

INTERPS = ["cpython", "micropython"]
DEV = "device-1"
BANNER = ("\r\n****************************************\r\n"
          "*   Session timeout due to inactivity  *\r\n"
          "*                                      *\r\n"
          "*   Press any key to continue...       *\r\n"
          "****************************************\r\n")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("hub"))
    init_dir(d, devices=(DEV,))
    h = HubThread(d)
    yield h
    h.stop()


@pytest.fixture
def start(hub, tmp_path):
    procs = []

    def forget():
        hub.hub.console.devices.pop(DEV, None)
        hub.hub.extensions.devices.pop(DEV, None)

    def run(interp, **cfg):
        hub.run(forget)
        cfg.setdefault("remote_console", True)
        p = DeviceProcess(interp, device_config(hub, str(tmp_path), "console", **cfg))
        procs.append(p)
        p.wait_line(r"^nhl: joined: %s$" % ("console" if cfg["remote_console"] else "device"),
                    timeout=20)
        return p

    yield run
    for p in procs:
        p.stop()
    hub.wait(lambda s: s.devices[DEV].connection is None, what="disconnect")
    hub.run(forget)


def scrollback(hub):
    return hub.run(lambda: hub.hub.console.device(DEV).scrollback())


def wait_output(hub, text, what=None, timeout=15):
    relay = hub.hub.console
    hub.wait(lambda s: text in relay.device(DEV).scrollback(), timeout,
             what=what or "console output %r; scrollback:\n%s" % (text, scrollback(hub)))


def dn(hub, data):
    hub.call(hub.hub.console.send(DEV, "dn", {"data": data}))


def consume(hub):
    """Scrollback so far, then forget it (the next waits only see new output)."""
    def take():
        d = hub.hub.console.device(DEV)
        text = d.scrollback()
        d.lines = [""]
        return text
    return hub.run(take)


@pytest.mark.parametrize("interp", INTERPS)
def test_repl_session_state_traceback_and_disconnect(interp, hub, start):
    dev = start(interp)
    wait_output(hub, ">>> ")
    assert "nerves_hub_link console: " in consume(hub)
    dn(hub, "x = 6\r")
    dn(hub, "x * 7\r")
    wait_output(hub, "x * 7\r\n42\r\n>>> ")
    dn(hub, "def f():\r    return {}['missing']\r\rf()\r")
    wait_output(hub, "KeyError")
    out = consume(hub)
    assert 'File "<console>", line 2, in f' in out
    n = hub.device(DEV).connections
    hub.call(hub.hub.disconnect(DEV))
    hub.wait(lambda s: s.devices[DEV].connections > n and "console" in s.devices[DEV].joined,
             20, what="console rejoined")
    dn(hub, "x + 1\r")
    wait_output(hub, "x + 1\r\n7\r\n")  # the namespace survived the disconnect
    assert dev.count(r"^nhl: error") == 1  # the disconnect itself


@pytest.mark.parametrize("interp", INTERPS)
def test_inactivity_timeout_banner_then_fresh_session(interp, hub, start):
    start(interp, remote_console_timeout_s=1)
    wait_output(hub, ">>> ")
    dn(hub, "kept = 1\r")
    wait_output(hub, BANNER, what="timeout banner")
    consume(hub)
    dn(hub, " ")  # "press any key": a new shell
    wait_output(hub, ">>> ")
    dn(hub, "kept\r")
    wait_output(hub, "NameError")


@pytest.mark.parametrize("interp", INTERPS)
def test_upload_200k_and_traversal_refused(interp, hub, start, tmp_path):
    start(interp)
    wait_output(hub, ">>> ")
    data = os.urandom(200 * 1024 + 5)
    src = tmp_path / "payload.bin"
    src.write_bytes(data)
    r = hub.call(hub.hub.console.upload(DEV, str(src)), timeout=60)
    assert r == {"chunks": 201, "size": len(data)}
    wait_output(hub, "payload.bin: %d bytes]" % len(data), timeout=30)
    got = (tmp_path / "data-console" / "payload.bin").read_bytes()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    hub.call(hub.hub.console.upload(DEV, str(src), name="../escaped.bin"))
    wait_output(hub, "upload refused")
    assert not (tmp_path / "escaped.bin").exists()
    assert sorted(os.listdir(tmp_path / "data-console")) == ["kv.json", "payload.bin"]


@pytest.mark.parametrize("interp", INTERPS)
def test_send_file_from_the_device(interp, hub, start, tmp_path):
    start(interp)
    wait_output(hub, ">>> ")
    data = os.urandom(5000)
    (tmp_path / "report.bin").write_bytes(data)
    dn(hub, "t = send_file(%r)\r" % str(tmp_path / "report.bin"))
    hub.wait(lambda s: hub.hub.console.device(DEV).files.get("report.bin", {}).get("complete"),
             20, what="file from the device")
    f = hub.run(lambda: hub.hub.console.device(DEV).file_summary()["report.bin"])
    assert f["errors"] == [] and f["size"] == 5000
    assert f["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("interp", INTERPS)
def test_health_check_gets_a_report(interp, hub, start):
    dev = start(interp, device_api_version="2.3.0", remote_console=False)
    ext = hub.hub.extensions
    hub.wait(lambda s: ext.device(DEV).attached == {"health", "geo"}, 20, what="attached")
    assert hub.run(lambda: ext.device(DEV).offered) == {"health": "0.0.1", "geo": "0.0.1"}
    hub.call(ext.push(DEV, "health:check", {}))
    hub.wait(lambda s: ext.device(DEV).health_reports >= 1, 20, what="health report")
    v = hub.run(lambda: ext.device(DEV).health)
    assert v["timestamp"].endswith("Z") and len(v["timestamp"]) == 20
    assert v["checks"]["connected"]["pass"] is True
    assert v["checks"]["firmware_valid"]["pass"] is True
    assert v["metrics"]["connections_total"] == 1
    if interp == "micropython":
        assert v["metrics"]["mem_free_bytes"] > 0
    hub.call(ext.push(DEV, "geo:location:request", {}))
    hub.wait(lambda s: ext.device(DEV).geo is not None, 20, what="geo answer")
    assert hub.run(lambda: ext.device(DEV).geo)["error_code"] == "no_source"
    # the operator disables geo: its next push is answered "detach"
    hub.run(lambda: setattr(ext, "enabled", ["health"]))
    try:
        hub.call(ext.push(DEV, "attach", {"extensions": "geo"}))
        hub.wait(lambda s: ext.device(DEV).events.count("geo:attached") == 2, 20,
                 what="re-attach")
        dev.wait_line(r"^nhl: extension detached: geo \(by the server\)$")
        hub.call(ext.push(DEV, "geo:location:request", {}))
        hub.call(ext.push(DEV, "health:check", {}))
        hub.wait(lambda s: ext.device(DEV).health_reports >= 2, 20, what="second report")
        assert ext.device(DEV).events.count("geo:location:update") == 1  # geo stays silent
    finally:
        hub.run(lambda: setattr(ext, "enabled", ["health", "geo"]))
