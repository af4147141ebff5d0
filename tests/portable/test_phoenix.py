# heapsize: 512K
# Phoenix V2 JSON channel core: refs, joins, replies, heartbeat, rejoin, malformed input.
import json

from nerves_hub_link.errors import ProtocolError
from nerves_hub_link.phoenix import (
    NEED_DATA,
    ChannelClosed,
    Channels,
    HeartbeatTimeout,
    Ignored,
    Joined,
    JoinRefused,
    Push,
    Reply,
    socket_path,
    socket_url,
)
from support import raises


def events(ch):
    out = []
    while True:
        ev = ch.next_event()
        if ev is NEED_DATA:
            return out
        out.append(ev)


def joined_device(now=0, **kw):
    ch = Channels(now, **kw)
    ch.join("device", {"nerves_fw_uuid": "u1"})
    assert ch.outgoing() == ['["1","1","device","phx_join",{"nerves_fw_uuid":"u1"}]']
    ch.receive_text('["1","1","device","phx_reply",{"status":"ok","response":{}}]')
    assert events(ch) == [Joined(topic="device", response={})]
    return ch


def test_socket_url_and_path():
    assert socket_url("hub.example") == "wss://hub.example:443/socket/websocket?vsn=2.0.0"
    assert socket_url("h", 4001, "/device-socket/websocket") == \
        "wss://h:4001/device-socket/websocket?vsn=2.0.0"
    assert socket_path("/socket/websocket", [("a", "x y/z")]) == \
        "/socket/websocket?a=x%20y%2Fz&vsn=2.0.0"
    assert socket_path("/s", {"vsn": "3.0.0"}) == "/s?vsn=3.0.0"


def test_refs_count_from_one_and_pushes_carry_join_ref():
    ch = joined_device()
    assert ch.push("device", "status_update", {"status": "received"}) == "2"
    ch.join("console", {"console_version": "2.0.0"})
    assert ch.outgoing() == [
        '["1","2","device","status_update",{"status":"received"}]',
        '["3","3","console","phx_join",{"console_version":"2.0.0"}]',
    ]


def test_heartbeat_frames_and_timeout():
    ch = joined_device(now=1000, heartbeat_ms=30000)
    assert ch.next_timer_ms() == 31000
    assert ch.tick(30999) == []
    assert ch.tick(31000) == ['[null,"2","phoenix","heartbeat",{}]']
    ch.receive_text('[null,"2","phoenix","phx_reply",{"status":"ok","response":{}}]')
    assert events(ch) == []
    assert ch.tick(61000) == ['[null,"3","phoenix","heartbeat",{}]']
    assert ch.tick(90999) == []
    assert ch.tick(91000) == []  # "3" never answered
    assert events(ch) == [HeartbeatTimeout(ref="3")]
    assert ch.state == "DEAD"
    raises(ProtocolError, ch.push, "device", "x", {})


def test_heartbeat_disabled_with_zero():
    ch = Channels(0, heartbeat_ms=0)
    assert ch.tick(10 ** 9) == [] and ch.next_timer_ms() is None


def test_server_push_fastlane_and_channel():
    ch = joined_device()
    ch.receive_text('[null,null,"device","update",{"firmware_url":"https://x/f.fw"}]')
    ch.receive_text(b'["1",null,"device","reboot",{}]')
    assert events(ch) == [Push(topic="device", event="update",
                               payload={"firmware_url": "https://x/f.fw"}),
                          Push(topic="device", event="reboot", payload={})]


def test_replies_are_routed_by_ref_not_order():
    ch = joined_device()
    r1 = ch.push("device", "a", {})
    r2 = ch.push("device", "b", {})
    ch.receive_text('["1","%s","device","phx_reply",{"status":"error","response":"detach"}]' % r2)
    ch.receive_text('["1","%s","device","phx_reply",{"status":"ok","response":{}}]' % r1)
    assert events(ch) == [Reply(topic="device", ref=r2, status="error", response="detach"),
                          Reply(topic="device", ref=r1, status="ok", response={})]


def test_join_refused_then_rejoin_after_rejoin_ms():
    ch = Channels(0, rejoin_ms=5000)
    ch.join("device", {"a": 1})
    ch.outgoing()
    ch.receive_text('["1","1","device","phx_reply",{"status":"error",'
                    '"response":{"reason":"could not connect"}}]', now_ms=100)
    assert events(ch) == [JoinRefused(topic="device", response={"reason": "could not connect"})]
    assert ch.topic_state("device") == "ERRORED"
    assert ch.next_timer_ms() == 5100
    assert ch.tick(5099) == []
    assert ch.tick(5100) == ['["2","2","device","phx_join",{"a":1}]']


def test_phx_error_schedules_rejoin_with_updated_payload_and_buffers_pushes():
    ch = joined_device()
    ch.receive_text('["1","1","device","phx_error",{}]', now_ms=10)
    assert events(ch) == [ChannelClosed(topic="device", reason="error", rejoin=True)]
    ch.update_join_payload("device", {"currently_downloading_uuid": "u2"})
    ref = ch.push("device", "fwup_progress", {"value": 5})  # held until rejoined
    assert ch.outgoing() == []
    assert ch.tick(5010) == ['["3","3","device","phx_join",{"currently_downloading_uuid":"u2"}]']
    ch.receive_text('["3","3","device","phx_reply",{"status":"ok","response":{}}]')
    assert events(ch) == [Joined(topic="device", response={})]
    assert ch.outgoing() == ['["3","%s","device","fwup_progress",{"value":5}]' % ref]
    # the old join_ref is stale now
    ch.receive_text('["1",null,"device","reboot",{}]')
    assert [type(e) for e in events(ch)] == [Ignored]


def test_phx_close_does_not_rejoin():
    ch = joined_device()
    ch.receive_text('["1","1","device","phx_close",{}]')
    assert events(ch) == [ChannelClosed(topic="device", reason="closed", rejoin=False)]
    assert ch.topic_state("device") is None and ch.next_timer_ms() is not None
    ch.receive_text('[null,null,"device","update",{}]')
    assert events(ch)[0].reason == "message for unknown topic 'device'"


def test_leave():
    ch = joined_device()
    assert ch.leave("device") == "2"
    assert ch.outgoing() == ['["1","2","device","phx_leave",{}]']
    ch.receive_text('["1","2","device","phx_reply",{"status":"ok","response":{}}]')
    assert events(ch) == [ChannelClosed(topic="device", reason="left", rejoin=False)]
    raises(ProtocolError, ch.leave, "device")


def test_illegal_local_steps():
    ch = joined_device()
    assert raises(ProtocolError, ch.join, "device", {}).remote is False
    raises(ProtocolError, ch.push, "console", "up", {})
    raises(ProtocolError, ch.push, "device", "x", "not a dict")
    raises(ProtocolError, ch.join, "console", [])


def _ignored(frame):
    ch = joined_device()
    ch.push("device", "x", {})
    ch.receive_text(frame)
    evs = events(ch)
    assert len(evs) == 1 and isinstance(evs[0], Ignored), evs
    raw = frame if isinstance(frame, bytes) else frame.encode()
    assert evs[0].raw == raw[:64]
    return evs[0].reason


def test_malformed_input_is_ignored_never_raised():
    assert "bad JSON" in _ignored('["1","1","device",')
    assert "bad JSON" in _ignored(b'\xff\xfe')
    assert "5-element" in _ignored('["1","1","device","x"]')
    assert "5-element" in _ignored('{"topic":"device"}')
    assert "unknown topic" in _ignored('[null,null,"nope","update",{}]')
    assert "unknown event" in _ignored('["1",null,"device","phx_bogus",{}]')
    assert "unknown event" in _ignored('[null,null,"phoenix","heartbeat",{}]')
    assert "unknown ref" in _ignored('["1","99","device","phx_reply",{"status":"ok"}]')
    assert "not an object" in _ignored('[null,null,"device","update",[1,2]]')
    assert "status" in _ignored('["1","2","device","phx_reply",{"response":{}}]')
    assert "bad ref" in _ignored('[null,[1],"device","update",{}]')
    assert "strings" in _ignored('[null,null,7,"update",{}]')
    assert "stale" in _ignored('["7",null,"device","update",{}]')
    long = '[null,null,"nope","update",{"pad":"%s"}]' % ("x" * 200)
    assert "unknown topic" in _ignored(long)


def test_deeply_nested_json_is_ignored():
    ch = Channels(0)
    ch.receive_text("[" * 5000 + "]" * 5000)
    evs = events(ch)
    assert len(evs) == 1 and isinstance(evs[0], Ignored)


def test_binary_frame_is_ignored():
    ch = joined_device()
    ch.receive_binary(b"\x00\x01\x02")
    assert events(ch) == [Ignored(reason="binary frame in JSON mode", raw=b"\x00\x01\x02")]


def test_pending_refs_are_bounded():
    ch = joined_device()
    refs = [ch.push("device", "p", {}) for _ in range(100)]
    ch.receive_text('["1","%s","device","phx_reply",{"status":"ok","response":{}}]' % refs[0])
    assert isinstance(events(ch)[0], Ignored)
    ch.receive_text('["1","%s","device","phx_reply",{"status":"ok","response":{}}]' % refs[-1])
    assert events(ch) == [Reply(topic="device", ref=refs[-1], status="ok", response={})]


def test_non_ascii_payload_round_trips():
    ch = joined_device()
    ch.push("device", "x", {"s": "caf\u00e9"})
    frame = ch.outgoing()[0]
    assert json.loads(frame) == ["1", "2", "device", "x", {"s": "caf\u00e9"}]
