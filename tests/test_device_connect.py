"""A real device process (CPython `nhl device` and MicroPython `boards/unix/main.py`) against
the simulator over TLS: certificate and NH1 auth, heartbeats, refusals, reconnect, pushes."""

import os

import pytest
from nhl import certs
from nhl.hub.testing import DeviceProcess, device_config

INTERPS = ["cpython", "micropython"]


@pytest.mark.parametrize("interp", INTERPS)
def test_client_certificate_join_and_heartbeats(interp, hub, run_device, tmp_path):
    dev = run_device(interp, device_config(hub, str(tmp_path), "cert"))
    dev.wait_line(r"^nhl: connecting: wss://127\.0\.0\.1:\d+/socket/websocket\?vsn=2\.0\.0$")
    dev.wait_line(r"^nhl: connected: ")
    dev.wait_line(r"^nhl: joined: device$")
    hub.wait(lambda s: s.devices["device-1"].heartbeats >= 3, what="3 heartbeats")
    rec = hub.device("device-1")
    assert rec.auth == "certificate"
    params = rec.join_params["device"]
    assert params["nerves_fw_uuid"] == "00000000-0000-0000-0000-000000000000"
    assert params["device_api_version"] == "2.0.0"
    assert params["currently_downloading_uuid"] is None
    assert "nerves_fw_active" not in params
    hb = hub.messages("device-1", "heartbeat", topic="phoenix")
    assert all(m["join_ref"] is None and m["payload"] == {} for m in hb)
    assert dev.count("^nhl: error") == 0


@pytest.mark.parametrize("interp", INTERPS)
def test_shared_secret_join(interp, hub, run_device, tmp_path):
    dev = run_device(interp, device_config(hub, str(tmp_path), "nh1", auth="shared_secret",
                                           identifier="dev-nh1-%s" % interp))
    dev.wait_line(r"/device-socket/websocket\?vsn=2\.0\.0$")
    dev.wait_line(r"^nhl: joined: device$")
    rec = hub.device("dev-nh1-%s" % interp)
    assert rec.auth == "shared_secret"
    hub.wait(lambda s: s.devices[rec.identifier].heartbeats >= 2, what="heartbeats")


@pytest.mark.parametrize("interp", INTERPS)
def test_bad_certificate_is_refused_in_tls(interp, hub, run_device, tmp_path):
    rogue = certs.make_ca("rogue CA")
    paths = certs.issue_device(str(tmp_path), rogue, "device-1")
    cfg = device_config(hub, str(tmp_path), "rogue", cert=paths["cert_der"],
                        key=paths["key_der"])
    dev = run_device(interp, cfg)
    line = dev.wait_line(r"^nhl: error: ")
    assert "TLS" in line, line
    dev.wait_line(r"^nhl: reconnecting: in 50 ms")
    assert hub.device("device-1") is None


@pytest.mark.parametrize("interp", INTERPS)
@pytest.mark.parametrize("case", ["wrong_ca", "wrong_name"])
def test_server_certificate_and_name_are_verified(interp, case, hub, run_device, tmp_path):
    extra = {"sni": "not-the-server.example"}
    if case == "wrong_ca":
        other = certs.make_ca("some other CA")
        extra = {"ca_certs": certs.write_pair(str(tmp_path), "other-ca", *other)["cert_der"]}
    dev = run_device(interp, device_config(hub, str(tmp_path), case, **extra))
    line = dev.wait_line(r"^nhl: error: ")
    assert "TLS" in line, line
    assert hub.device("device-1") is None


@pytest.mark.parametrize("interp", INTERPS)
def test_bad_signature_is_refused(interp, hub, run_device, tmp_path):
    cfg = device_config(hub, str(tmp_path), "badsig", auth="shared_secret", identifier="dev-bad")
    import json

    with open(cfg) as f:
        data = json.load(f)
    data["shared_secret"]["secret"] = "not-the-secret"
    with open(cfg, "w") as f:
        json.dump(data, f)
    dev = run_device(interp, cfg)
    line = dev.wait_line(r"^nhl: error: ")
    assert "HTTP 401" in line and "bad NH1 signature" in line, line
    assert hub.run(lambda: hub.hub.state.refusals[-1]["status"]) == 401


@pytest.mark.parametrize("interp", INTERPS)
@pytest.mark.parametrize("offset,word", [(200, "expired"), (-30, "future")])
def test_timestamp_outside_tolerance_is_refused(interp, offset, word, hub, run_device, tmp_path):
    hub.run(lambda: hub.hub.state.settings.update(clock_offset_s=offset))
    cfg = device_config(hub, str(tmp_path), "clock", auth="shared_secret", identifier="dev-clk")
    dev = run_device(interp, cfg)
    line = dev.wait_line(r"^nhl: error: ")
    assert "HTTP 401" in line and word in line, line


@pytest.mark.parametrize("interp", INTERPS)
def test_reconnects_with_backoff_after_server_drop(interp, hub, run_device, tmp_path):
    dev = run_device(interp, device_config(hub, str(tmp_path), "drop"))
    dev.wait_line(r"^nhl: joined: device$")
    hub.call(hub.hub.disconnect("device-1"))
    dev.wait_line(r"^nhl: error: server closed the websocket")
    dev.wait_line(r"^nhl: reconnecting: in 50 ms \(attempt 1\)")
    dev.wait_line(r"^nhl: joined: device$")
    hub.wait(lambda s: s.devices["device-1"].connections == 2 and
             "device" in s.devices["device-1"].joined, what="second join")
    # a second drop starts again from the first delay: the counter resets on connect
    hub.call(hub.hub.disconnect("device-1"))
    dev.wait_line(r"^nhl: reconnecting: in 50 ms \(attempt 1\)")
    dev.wait_line(r"^nhl: joined: device$")


@pytest.mark.parametrize("interp", INTERPS)
def test_backoff_grows_while_the_server_is_unreachable(interp, hub, run_device, tmp_path):
    cfg = device_config(hub, str(tmp_path), "down", port=1)  # nothing listens on port 1
    dev = run_device(interp, cfg)
    dev.wait_line(r"^nhl: error: .*cannot connect")
    dev.wait_line(r"^nhl: reconnecting: in 50 ms \(attempt 1\)")
    dev.wait_line(r"^nhl: reconnecting: in 100 ms \(attempt 2\)")
    dev.wait_line(r"^nhl: reconnecting: in 200 ms \(attempt 3\)")
    dev.wait_line(r"^nhl: reconnecting: in 200 ms \(attempt 4\)")


@pytest.mark.parametrize("interp", INTERPS)
def test_heartbeat_timeout_drops_and_reconnects(interp, hub, run_device, tmp_path):
    dev = run_device(interp, device_config(hub, str(tmp_path), "hb"))
    dev.wait_line(r"^nhl: joined: device$")
    hub.run(lambda: hub.hub.hooks.update(drop_heartbeat_replies=True))
    dev.wait_line(r"^nhl: error: heartbeat timeout$")
    hub.run(lambda: hub.hub.hooks.update(drop_heartbeat_replies=False))
    dev.wait_line(r"^nhl: joined: device$")


@pytest.mark.parametrize("interp", INTERPS)
def test_identify_and_reboot_pushes(interp, hub, run_device, tmp_path):
    dev = run_device(interp, device_config(hub, str(tmp_path), "push"))
    dev.wait_line(r"^nhl: joined: device$")
    hub.call(hub.hub.push("device-1", "device", "identify", {}))
    dev.wait_line(r"^nhl: identify")
    hub.call(hub.hub.push("device-1", "device", "reboot", {}))
    dev.wait_line(r"^nhl: rebooting$")
    hub.wait(lambda s: s.devices["device-1"].status == "rebooting", what="rebooting push")
    assert dev.wait_exit(10) == 0


@pytest.mark.parametrize("interp", INTERPS)
def test_refused_join_is_reported_and_retried(interp, hub, run_device, tmp_path):
    hub.run(lambda: hub.hub.hooks.update(refuse_join=["device"]))
    dev = run_device(interp, device_config(hub, str(tmp_path), "refuse", rejoin_after_ms=100))
    dev.wait_line(r"^nhl: error: join of device refused")
    hub.run(lambda: hub.hub.hooks.update(refuse_join=[]))
    dev.wait_line(r"^nhl: joined: device$")


def test_missing_credentials_config_error(tmp_path, hub):
    cfg = device_config(hub, str(tmp_path), "nocreds")
    import json

    with open(cfg) as f:
        data = json.load(f)
    del data["cert"], data["key"]
    with open(cfg, "w") as f:
        json.dump(data, f)
    dev = DeviceProcess("cpython", cfg)
    try:
        assert dev.wait_exit(10) == 2
        dev.wait_line(r"^nhl: error: config: no credentials")
    finally:
        dev.stop()
    assert os.path.exists(cfg)
