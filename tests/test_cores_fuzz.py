"""Property tests of the sans-I/O cores (CPython only, hypothesis).

Arbitrary input may only ever raise our own ProtocolError (WebSocket, HTTP) or
become Ignored events (Phoenix); well-formed input split at arbitrary points must
give the same result as when fed whole. SOAK=1 runs 10 000 examples per property.
"""

import json
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nerves_hub_link.errors import ProtocolError
from nerves_hub_link.http import Data, EndOfMessage, HTTPResponseParser, Response
from nerves_hub_link.phoenix import (
    NEED_DATA,
    ChannelClosed,
    Channels,
    Ignored,
    Joined,
    JoinRefused,
    Push,
    Reply,
)
from nerves_hub_link.websocket import (
    Accepted,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    TextMessage,
    WSClient,
    accept_key,
)

SOAK = bool(os.environ.get("SOAK"))
FUZZ = settings(max_examples=10000 if SOAK else 150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

pytestmark = pytest.mark.slow


def drain(core):
    out = []
    while True:
        ev = core.next_event()
        if ev is NEED_DATA:
            return out
        out.append(ev)


def split(data, cuts):
    """data cut at the given (sorted, deduplicated) positions."""
    pos = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in pos:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return [p for p in pieces if p]


# ---- WebSocket ------------------------------------------------------------------

KEY = b"0123456789abcdef"


def open_ws(max_message=1 << 16):
    ws = WSClient("h", "/", rand=lambda n: KEY[:n], max_message=max_message)
    ws.handshake_request()
    key = "MDEyMzQ1Njc4OWFiY2RlZg=="
    ws.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                    + accept_key(key).encode() + b"\r\n\r\n")
    assert isinstance(ws.next_event(), Accepted)
    return ws


def frame(op, payload, fin=True):
    n = len(payload)
    b0 = (0x80 if fin else 0) | op
    if n < 126:
        hdr = bytes([b0, n])
    elif n < 65536:
        hdr = bytes([b0, 126]) + struct.pack(">H", n)
    else:
        hdr = bytes([b0, 127]) + struct.pack(">Q", n)
    return hdr + payload


WS_EVENTS = (TextMessage, BytesMessage, Ping, Pong, CloseConnection)


@FUZZ
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=8), st.booleans())
def test_ws_arbitrary_bytes_only_protocol_errors(data, cuts, eof):
    ws = open_ws(max_message=256)
    try:
        for piece in split(data, cuts):
            ws.receive_data(piece)
            for ev in drain(ws):
                assert isinstance(ev, WS_EVENTS)
        if eof and ws.state in ("OPEN", "LOCAL_CLOSING"):
            ws.receive_data(b"")
            drain(ws)
    except ProtocolError as e:
        assert e.remote is True and e.code in (1002, 1007, 1009)
        assert ws.state == "ERROR"


@st.composite
def messages(draw):
    """A list of (kind, data) messages plus their frames, with random fragmentation."""
    out, wire = [], b""
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            data = draw(st.text(max_size=300)).encode()
            op, kind = 1, TextMessage
        else:
            data = draw(st.binary(max_size=300))
            op, kind = 2, BytesMessage
        cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=3))))
        parts, last = [], 0
        for c in cuts:
            parts.append(data[last:c])
            last = c
        parts.append(data[last:])
        for i, part in enumerate(parts):
            wire += frame(op if i == 0 else 0, part, fin=(i == len(parts) - 1))
            if draw(st.booleans()):
                wire += frame(9, b"p")  # control frames may sit between fragments
        out.append(kind(data=data.decode() if kind is TextMessage else data))
    return out, wire


@FUZZ
@given(messages(), st.lists(st.integers(0, 5000), max_size=10))
def test_ws_valid_frames_any_split(msgs, cuts):
    expected, wire = msgs
    ws = open_ws()
    got = []
    for piece in split(wire, cuts):
        ws.receive_data(piece)
        got.extend(ev for ev in drain(ws) if not isinstance(ev, Ping))
    assert got == expected


# ---- HTTP ------------------------------------------------------------------------

HTTP_EVENTS = (Response, Data, EndOfMessage)


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_http_arbitrary_bytes_only_protocol_errors(data, cuts):
    p = HTTPResponseParser(max_header_bytes=256)
    try:
        for piece in split(data, cuts):
            p.receive_data(piece)
            for ev in drain(p):
                assert isinstance(ev, HTTP_EVENTS)
        p.receive_data(b"")
        drain(p)
    except ProtocolError as e:
        assert e.remote is True


@FUZZ
@given(st.binary(max_size=100),
       st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=40))
def test_http_prefixed_garbage_only_protocol_errors(data, line):
    p = HTTPResponseParser()
    try:
        p.receive_data(b"HTTP/1.1 200 OK\r\n" + line.encode() + b"\r\n" + data)
        p.receive_data(b"")
        for ev in drain(p):
            assert isinstance(ev, HTTP_EVENTS)
    except ProtocolError as e:
        assert e.remote is True


@FUZZ
@given(st.binary(max_size=3000), st.booleans(), st.lists(st.integers(1, 3000), max_size=5),
       st.lists(st.integers(0, 4000), max_size=10))
def test_http_valid_bodies_any_split(body, chunked, chunk_sizes, cuts):
    if chunked:
        wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        i = 0
        for size in chunk_sizes + [len(body)]:
            piece = body[i:i + size]
            if piece:
                wire += b"%x;x=y\r\n" % len(piece) + piece + b"\r\n"
            i += len(piece)
        wire += b"0\r\n\r\n"
    else:
        wire = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    p = HTTPResponseParser()
    out = bytearray()
    done = False
    for piece in split(wire, cuts):
        p.receive_data(piece)
        for ev in drain(p):
            if isinstance(ev, Data):
                out.extend(ev.chunk)
            done = done or isinstance(ev, EndOfMessage)
    assert done and bytes(out) == body


# ---- Phoenix -----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=20,
)
refs = st.none() | st.sampled_from(["1", "2", "3", "99"]) | st.integers(-2, 5)
topics = st.sampled_from(["device", "console", "phoenix", "nope"])
events = st.sampled_from(["phx_reply", "phx_error", "phx_close", "phx_join", "update",
                          "heartbeat", "reboot"])
replies = st.fixed_dictionaries({"status": st.sampled_from(["ok", "error"])},
                                optional={"response": json_values})
frames = st.tuples(refs, refs, topics, events, replies | json_values).map(list) | json_values

PHX_EVENTS = (Ignored, Joined, JoinRefused, Reply, Push, ChannelClosed)


@FUZZ
@given(st.lists(frames, max_size=12), st.lists(st.binary(max_size=40), max_size=3))
def test_phoenix_never_raises_on_input(msgs, raw):
    ch = Channels(0)
    ch.join("device", {})
    ch.push("device", "x", {})
    for m in msgs:
        ch.receive_text(json.dumps(m))
        for ev in drain(ch):
            assert isinstance(ev, PHX_EVENTS)
            if isinstance(ev, Ignored):
                assert isinstance(ev.raw, bytes) and len(ev.raw) <= 64
    for r in raw:
        ch.receive_text(r)
        ch.receive_binary(r)
        for ev in drain(ch):
            assert isinstance(ev, PHX_EVENTS)
    ch.tick(10 ** 6)  # timers still work after any input
