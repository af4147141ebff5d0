"""Malformed server input on a live link, on both interpreters: every bad frame is logged
and ignored on the same connection; frames the WebSocket layer must refuse (invalid UTF-8,
a message over the 1 MiB limit) close that connection and the link reconnects and rejoins."""

import pytest
from nhl.hub import init_dir
from nhl.hub.testing import DeviceProcess, HubThread, device_config

INTERPS = ["cpython", "micropython"]

# (raw text frame, what the device must log)
BAD_FRAMES = [
    ("this is not json", r"ignored server message \(bad JSON"),
    ('["1", "2", "device"]', r"ignored server message \(not a 5-element array\)"),
    ('{"topic": "device"}', r"ignored server message \(not a 5-element array\)"),
    ('[null, null, "nosuch", "update", {}]', r"ignored server message \(message for unknown "
                                              r"topic 'nosuch'\)"),
    ('[null, null, "device", "frobnicate", {}]', r"unknown message device/frobnicate ignored"),
    ('[null, "99", "device", "phx_reply", {"status": "ok", "response": {}}]',
     r"ignored server message \(reply to unknown ref '99'\)"),
    ('[null, null, "device", "update", "not-a-map"]', r"ignored server message \(payload is "
                                                      r"not an object\)"),
    ('[null, null, 7, "update", {}]', r"ignored server message \(topic and event must be "
                                      r"strings\)"),
    ('[null, null, "phoenix", "heartbeat", {}]', r"unknown event 'heartbeat' on topic phoenix"),
]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("hub"))
    init_dir(d, devices=("device-1",))
    h = HubThread(d)
    yield h
    h.stop()


@pytest.fixture
def device(hub, tmp_path, request):
    dev = DeviceProcess(request.param, device_config(hub, str(tmp_path), "bad"))
    dev.wait_line(r"^nhl: joined: device$")
    hub.wait(lambda s: "device" in s.devices["device-1"].joined, what="join")
    yield dev
    dev.stop()
    hub.wait(lambda s: s.devices["device-1"].connection is None, what="disconnect")


def _still_serving(hub, dev, connections):
    hub.call(hub.hub.push("device-1", "device", "identify", {}))
    dev.wait_line(r"^nhl: identify")
    assert hub.device("device-1").connections == connections


@pytest.mark.parametrize("device", INTERPS, indirect=True)
def test_bad_frames_are_logged_and_ignored(hub, device):
    before = hub.device("device-1").connections
    for text, expect in BAD_FRAMES:
        hub.call(hub.hub.send_raw("device-1", text=text))
        device.wait_line(expect)
    _still_serving(hub, device, before)
    assert device.count(r"^nhl: error") == 0


@pytest.mark.parametrize("device", INTERPS, indirect=True)
def test_binary_frame_is_ignored(hub, device):
    before = hub.device("device-1").connections
    hub.call(hub.hub.send_raw("device-1", data=b"\x00\x01\x02\xff", opcode="binary"))
    device.wait_line(r"ignored server message \(binary frame in JSON mode\)")
    _still_serving(hub, device, before)


@pytest.mark.parametrize("device", INTERPS, indirect=True)
def test_large_message_below_the_limit_is_handled(hub, device):
    big = '[null, null, "device", "identify", {"pad": "%s"}]' % ("x" * 200000)
    before = hub.device("device-1").connections
    hub.call(hub.hub.send_raw("device-1", text=big))
    device.wait_line(r"^nhl: identify")
    assert hub.device("device-1").connections == before


@pytest.mark.parametrize("device", INTERPS, indirect=True)
def test_oversized_message_closes_with_1009_and_link_recovers(hub, device):
    before = hub.device("device-1").connections
    big = '[null, null, "device", "identify", {"pad": "%s"}]' % ("x" * (1 << 20))
    hub.call(hub.hub.send_raw("device-1", text=big))
    line = device.wait_line(r"^nhl: error: ")
    assert "websocket protocol error" in line and "1048576 byte limit" in line, line
    device.wait_line(r"^nhl: joined: device$")
    _still_serving(hub, device, before + 1)


@pytest.mark.parametrize("device", INTERPS, indirect=True)
def test_invalid_utf8_closes_with_1007_and_link_recovers(hub, device):
    before = hub.device("device-1").connections
    hub.call(hub.hub.send_raw("device-1", data=b'["x", \xff\xfe]', opcode="text"))
    line = device.wait_line(r"^nhl: error: ")
    assert "websocket protocol error" in line and "not valid UTF-8" in line, line
    device.wait_line(r"^nhl: joined: device$")
    _still_serving(hub, device, before + 1)
