# heapsize: 512K
# WebSocket client core: handshake, RFC 6455 section 5.7 frames, errors, close.
from nerves_hub_link.errors import ProtocolError
from nerves_hub_link.websocket import (
    NEED_DATA,
    Accepted,
    BytesMessage,
    Close,
    CloseConnection,
    Message,
    Ping,
    Pong,
    Rejected,
    TextMessage,
    WSClient,
    accept_key,
    decode_utf8,
    mask,
)
from support import raises

RFC_KEY_BYTES = b"the sample nonce"  # base64 -> dGhlIHNhbXBsZSBub25jZQ== (RFC 6455 1.3)
RFC_MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 5.7


class Rand:
    """rand(n) returning scripted bytes: the RFC nonce first, then the RFC mask."""

    def __init__(self, *chunks):
        self.chunks = list(chunks)

    def __call__(self, n):
        if self.chunks:
            c = self.chunks.pop(0)
        else:
            c = RFC_MASK
        assert len(c) == n
        return c


def accept_response(key="dGhlIHNhbXBsZSBub25jZQ==", extra=b""):
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_key(key).encode()
            + b"\r\n\r\n" + extra)


def open_client(extra=b"", **kw):
    c = WSClient("hub.example", "/socket/websocket?vsn=2.0.0", rand=Rand(RFC_KEY_BYTES), **kw)
    c.handshake_request()
    c.receive_data(accept_response(extra=extra))
    ev = c.next_event()
    assert isinstance(ev, Accepted), ev
    return c


def events(c):
    out = []
    while True:
        ev = c.next_event()
        if ev is NEED_DATA:
            return out
        out.append(ev)


def test_accept_key_rfc6455_example():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_handshake_request_exact_bytes():
    c = WSClient("hub.example:4001", "/device-socket/websocket?vsn=2.0.0",
                 extra_headers=[("x-nh-key", "nhp_test")], rand=Rand(RFC_KEY_BYTES))
    assert c.handshake_request() == (
        b"GET /device-socket/websocket?vsn=2.0.0 HTTP/1.1\r\n"
        b"Host: hub.example:4001\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"x-nh-key: nhp_test\r\n\r\n"
    )
    assert c.state == "CONNECTING"
    raises(ProtocolError, c.handshake_request)


def test_accepted_with_frame_in_same_packet():
    c = open_client(extra=b"\x81\x05Hello")
    assert c.state == "OPEN"
    assert events(c) == [TextMessage(data="Hello")]


def test_accepted_byte_by_byte():
    c = WSClient("h", "/", rand=Rand(RFC_KEY_BYTES))
    c.handshake_request()
    got = []
    for b in accept_response(extra=b"\x81\x05Hello"):
        c.receive_data(bytes([b]))
        got.extend(events(c))
    assert isinstance(got[0], Accepted)
    assert got[1:] == [TextMessage(data="Hello")]


def test_bad_accept_key_is_protocol_error():
    c = WSClient("h", "/", rand=Rand(RFC_KEY_BYTES))
    c.handshake_request()
    c.receive_data(accept_response(key="AAAAAAAAAAAAAAAAAAAAAA=="))
    e = raises(ProtocolError, c.next_event)
    assert e.remote is True and "Sec-WebSocket-Accept" in e.message
    assert c.state == "ERROR"
    assert raises(ProtocolError, c.next_event).remote is False


def test_rejected_401_keeps_body_and_headers():
    c = WSClient("h", "/", rand=Rand(RFC_KEY_BYTES))
    c.handshake_request()
    c.receive_data(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 11\r\n"
                   b"nh-connection-error-reason: no certificate\r\n\r\nbad request")
    ev = c.next_event()
    assert ev == Rejected(status=401, headers=[("content-length", "11"),
                                               ("nh-connection-error-reason", "no certificate")],
                          body=b"bad request")
    assert ev.header("NH-Connection-Error-Reason") == "no certificate"
    assert c.state == "REJECTED"


def test_rejected_body_is_bounded():
    c = WSClient("h", "/", rand=Rand(RFC_KEY_BYTES))
    c.handshake_request()
    c.receive_data(b"HTTP/1.1 403 Forbidden\r\n\r\n" + b"x" * 10000)
    assert events(c) == []
    c.receive_data(b"")
    evs = events(c)
    assert len(evs) == 1 and evs[0].status == 403 and evs[0].body == b"x" * 4096


def test_eof_during_handshake():
    c = WSClient("h", "/", rand=Rand(RFC_KEY_BYTES))
    c.handshake_request()
    c.receive_data(b"HTTP/1.1 101 Swi")
    c.receive_data(b"")
    assert raises(ProtocolError, c.next_event).remote is True


def test_rfc_unmasked_text():
    c = open_client()
    c.receive_data(bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]))
    assert c.next_event() == TextMessage(data="Hello")
    assert c.next_event() is NEED_DATA


def test_rfc_fragmented_text_and_interleaved_ping():
    c = open_client()
    c.receive_data(bytes([0x01, 0x03, 0x48, 0x65, 0x6C]))
    c.receive_data(bytes([0x89, 0x05]) + b"Hello")  # ping between fragments
    c.receive_data(bytes([0x80, 0x02, 0x6C, 0x6F]))
    assert events(c) == [Ping(payload=b"Hello"), TextMessage(data="Hello")]
    # automatic pong = RFC 5.7 masked pong bytes
    assert c.pending_output() == bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D,
                                        0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert c.pending_output() == b""


def test_rfc_unmasked_pong():
    c = open_client()
    c.receive_data(bytes([0x8A, 0x05]) + b"Hello")
    assert events(c) == [Pong(payload=b"Hello")]
    assert c.pending_output() == b""


def test_rfc_binary_256_and_64k():
    c = open_client()
    c.receive_data(bytes([0x82, 0x7E, 0x01, 0x00]) + bytes(range(256)))
    assert events(c) == [BytesMessage(data=bytes(range(256)))]
    body = bytes(i & 0xFF for i in range(65536))
    c.receive_data(bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]))
    for i in range(0, 65536, 5000):
        c.receive_data(body[i:i + 5000])
    assert events(c) == [BytesMessage(data=body)]


def test_send_rfc_masked_text():
    c = open_client()
    assert c.send(Message("Hello")) == bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D,
                                              0x7F, 0x9F, 0x4D, 0x51, 0x58])


def test_send_lengths_126_and_65536():
    c = open_client()
    f = c.send(Message(b"\x00" * 200))
    assert f[:8] == bytes([0x82, 0xFE, 0x00, 0xC8]) + RFC_MASK
    assert f[8:] == RFC_MASK * 50
    f = c.send(Message(b"\x00" * 65536))
    assert f[:14] == bytes([0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0]) + RFC_MASK
    assert len(f) == 14 + 65536 and f[14:] == RFC_MASK * 16384


def test_mask_is_involution_and_offset_aware():
    data = bytearray(bytes(range(256)) * 9 + b"tail")
    orig = bytes(data)
    mask(data, 3, len(data) - 3, b"\x01\x80\xff\x10")
    assert data[:3] == orig[:3]
    assert data[3] == orig[3] ^ 0x01 and data[6] == orig[6] ^ 0x10 and data[7] == orig[7] ^ 0x01
    mask(data, 3, len(data) - 3, b"\x01\x80\xff\x10")
    assert bytes(data) == orig


def test_send_ping_and_close():
    c = open_client()
    assert c.send(Ping(b"")) == bytes([0x89, 0x80]) + RFC_MASK
    f = c.send(Close(1000, ""))
    assert f == bytes([0x88, 0x82]) + RFC_MASK + bytes([0x03 ^ 0x37, 0xE8 ^ 0xFA])
    assert c.state == "LOCAL_CLOSING"
    raises(ProtocolError, c.send, Message("late"))


def test_server_close_is_echoed_and_reported():
    c = open_client()
    c.receive_data(bytes([0x88, 0x07, 0x03, 0xE9]) + b"bye!!")
    assert events(c) == [CloseConnection(code=1001, reason="bye!!")]
    assert c.state == "CLOSED"
    assert c.pending_output() == bytes([0x88, 0x82]) + RFC_MASK + bytes([0x03 ^ 0x37, 0xE9 ^ 0xFA])
    raises(ProtocolError, c.send, Close())


def test_close_after_local_close_is_not_echoed():
    c = open_client()
    c.send(Close(1000))
    c.receive_data(bytes([0x81, 0x02]) + b"hi" + bytes([0x88, 0x00]))
    assert events(c) == [TextMessage(data="hi"), CloseConnection(code=1005, reason="")]
    assert c.pending_output() == b""


def test_eof_without_close_is_1006():
    c = open_client()
    c.receive_data(bytes([0x81, 0x05, 0x48]))  # cut mid-frame
    c.receive_data(b"")
    assert events(c) == [CloseConnection(code=1006, reason="")]


def _expect_close(frame, code, **kw):
    c = open_client(**kw)
    c.receive_data(frame)
    e = raises(ProtocolError, events, c)
    assert e.remote is True and e.code == code, (e.code, e.message)
    assert c.state == "ERROR"
    out = c.pending_output()
    assert out[0] == 0x88 and out[6] ^ RFC_MASK[0] == code >> 8 and out[7] ^ RFC_MASK[1] == code & 0xFF
    return e


def test_masked_server_frame_1002():
    _expect_close(bytes([0x81, 0x85]) + RFC_MASK + b"Hello", 1002)


def test_reserved_bits_1002():
    _expect_close(bytes([0xC1, 0x01]) + b"x", 1002)


def test_bad_opcodes_1002():
    _expect_close(bytes([0x83, 0x00]), 1002)
    _expect_close(bytes([0x8B, 0x00]), 1002)


def test_control_frame_too_long_or_fragmented_1002():
    _expect_close(bytes([0x89, 0x7E, 0x00, 0x7E]) + b"x" * 126, 1002)
    _expect_close(bytes([0x09, 0x00]), 1002)


def test_continuation_without_start_1002():
    _expect_close(bytes([0x80, 0x01]) + b"x", 1002)


def test_new_message_inside_fragmented_1002():
    _expect_close(bytes([0x01, 0x01]) + b"a" + bytes([0x81, 0x01]) + b"b", 1002)


def test_invalid_utf8_text_1007():
    e = _expect_close(bytes([0x81, 0x02, 0xC0, 0x80]), 1007)  # overlong NUL
    assert "UTF-8" in e.message
    _expect_close(bytes([0x81, 0x03, 0xED, 0xA0, 0x80]), 1007)  # surrogate
    _expect_close(bytes([0x81, 0x01, 0xFF]), 1007)


def test_utf8_split_across_fragments_is_valid():
    c = open_client()
    c.receive_data(bytes([0x01, 0x01, 0xCE, 0x80, 0x01, 0xBA]))
    assert events(c) == [TextMessage(data="\u03ba")]


def test_decode_utf8_strict():
    assert decode_utf8(b"\xf0\x9f\x98\x80") == "\U0001F600"
    raises(UnicodeError, decode_utf8, b"\xf4\x90\x80\x80")  # > U+10FFFF
    raises(UnicodeError, decode_utf8, b"\xe2\x82")


def test_message_too_big_1009_before_payload_arrives():
    e = _expect_close(bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 0x10, 0, 1]), 1009, max_message=1 << 20)
    assert "limit" in e.message


def test_fragmented_message_over_limit_1009():
    c = open_client(max_message=10)
    c.receive_data(bytes([0x01, 0x06]) + b"abcdef")
    assert events(c) == []
    c.receive_data(bytes([0x80, 0x06]) + b"ghijkl")
    e = raises(ProtocolError, events, c)
    assert e.code == 1009


def test_many_small_fragments_regrow_the_buffer_few_times():
    # regression: the reassembly buffer was regrown to the exact size at every fragment, so a
    # message sent as n 1-byte fragments copied O(n^2) bytes
    c = open_client()
    n = 2000
    last, grown = None, 0
    for i in range(n):
        op = 0x02 if i == 0 else 0x00
        fin = 0x80 if i == n - 1 else 0x00
        c.receive_data(bytes([fin | op, 0x01, 0x41 + i % 26]))
        evs = events(c)
        if c._msg is not last:
            last, grown = c._msg, grown + 1
    assert evs == [BytesMessage(data=bytes(0x41 + i % 26 for i in range(n)))]
    assert grown <= 16, grown  # doubling: about log2(2000) = 11 buffers


def test_close_frame_errors():
    _expect_close(bytes([0x88, 0x01, 0x03]), 1002)  # 1-byte payload
    _expect_close(bytes([0x88, 0x02, 0x03, 0xED]), 1002)  # 1005 is never on the wire
    _expect_close(bytes([0x88, 0x03, 0x03, 0xE8, 0xFF]), 1007)


def test_illegal_local_steps():
    c = WSClient("h", "/", rand=Rand(RFC_KEY_BYTES))
    raises(ProtocolError, c.next_event)
    raises(ProtocolError, c.send, Message("x"))
    c.handshake_request()
    assert raises(ProtocolError, c.send, Message("x")).remote is False
    assert raises(ProtocolError, WSClient, "h", "/").remote is False
    c = open_client()
    raises(ProtocolError, c.send, Ping(b"x" * 126))
    raises(ProtocolError, c.send, Close(1004))  # reserved code
