"""Network chaos against the simulator (`nhl hub`, TLS on 127.0.0.1).

Both interpreters (real device processes): random disconnects, hub restarts and silent
stretches longer than the heartbeat timeout, in a seeded random order; NH1 clock skew inside
and outside the tolerance; duplicate `update` pushes to a device without an update manager.
Both interpreters with the full update path (device processes whose short retry timings
come from the config's ``download`` object): a stall longer than ``idle_timeout``, truncated
bodies (resumed at once, not after ``idle_timeout``), duplicate `update` messages. CPython
in process (device over a flash image): a trickle just under ``idle_timeout`` and a hub
restart in the middle of a download. Every update must end on the new slot with the image
our fwup CLI makes, or not start at all."""

import os
import random

import pytest
from demo import ENV_COUNT, ENV_OFFSET, ENV_REDUND, make_keys, make_release, provision, read_env
from e2e_kit import IDENT, FlashDevice, offer, provision_v1, statuses, wait_on_version
from nhl.hub.testing import DeviceProcess, device_config

INTERPS = ["cpython", "micropython"]
IDLE_MS = 1000


def restart(hub):
    """Stop every listener (devices see their sockets close) and listen again on the same
    ports, keeping the hub's state (hosted firmware, device records)."""
    ports = dict(hub.ports)
    hub.call(hub.hub.stop())
    hub.call(hub.hub.start("127.0.0.1", tls_port=ports["tls"], admin_port=0))


def joins(hub):
    rec = hub.device(IDENT)
    return rec.connections if rec else 0


def wait_joined(hub, n, timeout=20):
    hub.wait(lambda s: IDENT in s.devices and s.devices[IDENT].connections >= n
             and s.devices[IDENT].connection is not None and "device" in s.devices[IDENT].joined,
             timeout, "join number %d" % n)


@pytest.mark.parametrize("interp", INTERPS)
def test_random_disconnects_restarts_and_silences(interp, hub, tmp_path):
    dev = DeviceProcess(interp, device_config(hub, str(tmp_path), "chaos"))
    try:
        wait_joined(hub, 1)
        rnd = random.Random(interp)
        kinds = ["drop", "restart", "silence"] * 2
        rnd.shuffle(kinds)
        for i, kind in enumerate(kinds):
            if kind == "drop":
                hub.call(hub.hub.disconnect(IDENT, code=rnd.choice([1000, 1001, 1011])))
            elif kind == "restart":
                restart(hub)
            else:
                # the hub stops answering heartbeats: longer than the device's timeout
                hub.run(lambda: hub.hub.hooks.update(drop_heartbeat_replies=True))
                dev.wait_line(r"^nhl: error: heartbeat timeout$")
                hub.run(lambda: hub.hub.hooks.update(drop_heartbeat_replies=False))
            wait_joined(hub, i + 2)
        hub.wait(lambda s: s.devices[IDENT].heartbeats >= 2, what="heartbeats after the chaos")
        assert dev.count("Traceback") == 0
        assert dev.count(r"^nhl: reconnecting: in 50 ms \(attempt 1\)") >= len(kinds)
    finally:
        dev.stop()


@pytest.mark.parametrize("interp", INTERPS)
@pytest.mark.parametrize("offset,joins_ok", [(60, True), (85, True), (120, False), (-5, False)])
def test_nh1_clock_skew(interp, offset, joins_ok, hub, tmp_path):
    # the hub accepts NH1 signatures up to max_age_s (90 s) old and none from the future
    hub.run(lambda: hub.hub.state.settings.update(clock_offset_s=offset))
    cfg = device_config(hub, str(tmp_path), "skew", auth="shared_secret", identifier="dev-skew")
    dev = DeviceProcess(interp, cfg)
    try:
        if joins_ok:
            dev.wait_line(r"^nhl: joined: device$")
        else:
            line = dev.wait_line(r"^nhl: error: ")
            assert "HTTP 401" in line and ("expired" in line or "future" in line), line
            assert dev.count(r"^nhl: joined") == 0
    finally:
        dev.stop()


# ---- the update path (CPython, in process) ------------------------------------------------

@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("fw"))
    pub, priv = make_keys(d)
    size = 256 * 1024
    from demo import rootfs_bytes

    rel = {"pub": pub, "v1": make_release(d, "1.0.0", priv, rootfs=rootfs_bytes("1", size)),
           "v2": make_release(d, "2.0.0", priv, rootfs=rootfs_bytes("2", size))}
    with open(pub) as f:
        rel["key"] = f.read().strip()
    return rel


@pytest.fixture
def device(hub, releases, tmp_path):
    started = []

    def start():
        cfg, flash = provision_v1(hub, releases, tmp_path)
        d = FlashDevice(cfg, flash, idle_timeout=IDLE_MS)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
        assert not d.errors, d.errors


def wait_on_v2(hub, d, timeout=40, completed=1):
    wait_on_version(hub, "2.0.0", timeout)
    assert read_env(d.flash)["nerves_fw_active"] == "b"
    assert statuses(hub).count("completed") in (completed, 1) and "failed" not in statuses(hub)


def _flash_device_config(hub, releases, tmp_path, name, **extra):
    """A device process's config over a v1 flash image (U-Boot env KV in the image)."""
    flash = provision(str(tmp_path / "flash.img"), releases["v1"], releases["pub"])
    cfg = device_config(hub, str(tmp_path), name, identifier=IDENT, block_device=flash,
                        uboot_env=[ENV_OFFSET, ENV_COUNT, ENV_REDUND],
                        fwup_public_keys=[releases["key"]], **extra)
    return cfg, flash


@pytest.mark.parametrize("interp", INTERPS)
def test_stall_longer_than_idle_timeout_resumes(interp, hub, releases, tmp_path):
    # idle_timeout from the device config (`nhl device` / boards/unix/main.py -> make_device)
    cfg, flash = _flash_device_config(hub, releases, tmp_path, "stall", download={
        "idle_timeout_ms": IDLE_MS, "time_between_retries_ms": 20})
    dev = DeviceProcess(interp, cfg)
    try:
        wait_joined(hub, 1)
        fw, _ = offer(hub, releases["v2"], "stall.fw",
                      [{"stall": True, "stall_after": 40000, "stall_s": 30}])
        dev.wait_line(r"^nhl: rebooting", timeout=120)
        assert dev.wait_exit(20) == 0
    finally:
        dev.stop()
    reqs = hub.run(lambda: list(fw.requests))
    assert [r["status"] for r in reqs] == [200, 206], reqs
    assert reqs[1]["range"] == "bytes=%d-" % reqs[0]["sent"], reqs
    assert dev.count(r"download interrupted \(idle_timeout\), retry 1 in 20 ms") == 1
    assert statuses(hub).count("completed") == 1 and "failed" not in statuses(hub)
    assert read_env(flash)["nerves_fw_active"] == "b"
    assert dev.count("Traceback") == 0


def test_trickle_under_idle_timeout_is_not_dropped(hub, device, releases):
    d = device()
    wait_joined(hub, 1)
    # three pauses of 60% of the idle timeout on one response: slow, but alive
    faults = [{"stall": True, "stall_after": n, "stall_s": IDLE_MS * 0.6 / 1000}
              for n in (10000,)]
    fw, _ = offer(hub, releases["v2"], "trickle.fw", faults)
    wait_on_v2(hub, d)
    reqs = hub.run(lambda: list(fw.requests))
    assert [r["status"] for r in reqs] == [200], reqs


@pytest.mark.parametrize("interp", INTERPS)
def test_truncated_bodies_resume_at_once(interp, hub, releases, tmp_path):
    # the hub closes TLS (close_notify, then waits for the device's) after a few bytes; with a
    # 30 s idle_timeout, four drops finish well inside the deadline only if each close is
    # seen as end of stream at once (on MicroPython it once waited for idle_timeout)
    cfg, flash = _flash_device_config(hub, releases, tmp_path, "trunc", download={
        "idle_timeout_ms": 30000, "time_between_retries_ms": 20})
    dev = DeviceProcess(interp, cfg)
    size = os.path.getsize(releases["v2"])
    rnd = random.Random(11)
    faults = [{"drop_after": rnd.randrange(1, size // 8)} for _ in range(4)]
    try:
        wait_joined(hub, 1)
        fw, _ = offer(hub, releases["v2"], "trunc.fw", faults)
        dev.wait_line(r"^nhl: rebooting", timeout=60)
        assert dev.wait_exit(20) == 0
    finally:
        dev.stop()
    reqs = hub.run(lambda: list(fw.requests))
    assert [r["status"] for r in reqs] == [200, 206, 206, 206, 206], reqs
    assert dev.count(r"download interrupted \(connection_closed\)") == 4
    assert dev.count("idle_timeout") == 0
    assert statuses(hub).count("completed") == 1 and "failed" not in statuses(hub)
    assert read_env(flash)["nerves_fw_active"] == "b"


def test_hub_restart_during_download(hub, device, releases):
    d = device()
    wait_joined(hub, 1)
    # the first response stalls until the hub goes away under it
    fw, payload = offer(hub, releases["v2"], "restart.fw",
                        [{"stall": True, "stall_after": 30000, "stall_s": 3600}])
    hub.wait(lambda s: fw.requests and fw.requests[0]["sent"] >= 30000, what="download started")
    restart(hub)
    # the apply may finish while the socket is still reconnecting: that "completed" push is
    # dropped (pushes are not queued while disconnected); the rejoin on 2.0.0 tells the hub
    wait_on_v2(hub, d, timeout=60, completed=0)
    reqs = hub.run(lambda: list(fw.requests))
    assert reqs[-1]["status"] == 206 and len(reqs) >= 2, reqs


@pytest.mark.parametrize("interp", INTERPS)
def test_duplicate_update_messages_apply_once(interp, hub, releases, tmp_path):
    # a real device process on each interpreter; the same `update` arrives three times, the
    # copies while the first download is still running
    cfg, flash = _flash_device_config(hub, releases, tmp_path, "dup")
    dev = DeviceProcess(interp, cfg)
    try:
        wait_joined(hub, 1)
        fw, payload = offer(hub, releases["v2"], "dup.fw",
                            [{"stall": True, "stall_after": 20000, "stall_s": 0.3}])
        for _ in range(2):
            hub.call(hub.hub.push(IDENT, "device", "update", payload))
        dev.wait_line(r"^nhl: rebooting", timeout=120)
        assert dev.wait_exit(20) == 0
    finally:
        dev.stop()
    reqs = hub.run(lambda: list(fw.requests))
    assert [r["status"] for r in reqs] == [200], reqs
    assert statuses(hub).count("completed") == 1 and "failed" not in statuses(hub)
    assert read_env(flash)["nerves_fw_active"] == "b"
    assert dev.count("Traceback") == 0
