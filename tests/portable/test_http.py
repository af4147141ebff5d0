# heapsize: 1M
# HTTP/1.1 response parser: framing, limits, errors; Content-Range; request builder.
from nerves_hub_link.errors import ProtocolError
from nerves_hub_link.http import (
    MAX_DATA_CHUNK,
    NEED_DATA,
    Data,
    EndOfMessage,
    HTTPResponseParser,
    Response,
    build_request,
    parse_content_range,
)
from support import raises


def run(raw, pieces=None, **kw):
    """Feed raw (optionally split in pieces of that size) then EOF; return events, Data merged."""
    p = HTTPResponseParser(**kw)
    out = []
    step = pieces or len(raw) or 1
    for i in range(0, len(raw), step):
        p.receive_data(raw[i:i + step])
        out.extend(drain(p))
    p.receive_data(b"")
    out.extend(drain(p))
    merged = []
    for ev in out:
        if isinstance(ev, Data) and merged and isinstance(merged[-1], Data):
            merged[-1] = Data(chunk=merged[-1].chunk + ev.chunk)
        else:
            merged.append(ev)
    return merged


def drain(p):
    out = []
    while True:
        ev = p.next_event()
        if ev is NEED_DATA:
            return out
        out.append(ev)
        if isinstance(ev, EndOfMessage):
            return out


def test_content_length_body():
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello"
    for pieces in (None, 1, 3):
        assert run(raw, pieces) == [
            Response(status=200, reason="OK", headers=[("content-length", "5"), ("x-a", "b")]),
            Data(chunk=b"hello"),
            EndOfMessage(),
        ]


def test_response_header_lookup_case_insensitive():
    p = HTTPResponseParser()
    p.receive_data(b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/9\r\n\r\n")
    ev = p.next_event()
    assert ev.status == 206 and ev.reason == "Partial Content"
    assert ev.header("CONTENT-RANGE") == "bytes 0-0/9" and ev.header("nope") is None


def test_chunked_body_with_extension_and_trailers():
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;name=x\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
    for pieces in (None, 1, 7):
        evs = run(raw, pieces)
        assert evs[1:] == [Data(chunk=b"hello world"), EndOfMessage()], evs


def test_until_eof_body():
    evs = run(b"HTTP/1.0 200 OK\r\n\r\nall of it", 4)
    assert evs[1:] == [Data(chunk=b"all of it"), EndOfMessage()]


def test_no_body_statuses_and_head():
    assert run(b"HTTP/1.1 204 No Content\r\n\r\n")[1:] == [EndOfMessage()]
    assert run(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")[1:] == [EndOfMessage()]
    assert run(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
               request_method="HEAD")[1:] == [EndOfMessage()]


def test_informational_then_final():
    evs = run(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
    assert [e.status for e in evs if isinstance(e, Response)] == [100, 200]
    assert evs[-2:] == [Data(chunk=b"x"), EndOfMessage()]


def test_101_leaves_trailing_data():
    p = HTTPResponseParser()
    p.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00")
    assert p.next_event().status == 101
    assert p.next_event() is NEED_DATA
    assert p.trailing_data == b"\x81\x00"


def test_data_chunks_are_bounded():
    n = MAX_DATA_CHUNK * 2 + 10
    p = HTTPResponseParser()
    p.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n + b"z" * n)
    evs = drain(p)
    sizes = [len(e.chunk) for e in evs if isinstance(e, Data)]
    assert sizes == [MAX_DATA_CHUNK, MAX_DATA_CHUNK, 10]


def test_short_body_is_remote_error_with_counts():
    p = HTTPResponseParser()
    p.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    drain(p)
    p.receive_data(b"")
    e = raises(ProtocolError, p.next_event)
    assert e.remote is True and "3 of 10" in e.message
    assert p.state == "ERROR"
    assert raises(ProtocolError, p.next_event).remote is False


def test_chunked_cut_short():
    p = HTTPResponseParser()
    p.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
    drain(p)
    p.receive_data(b"")
    raises(ProtocolError, drain, p)


def _bad(raw, text):
    p = HTTPResponseParser()
    p.receive_data(raw)
    e = raises(ProtocolError, drain, p)
    assert e.remote is True and text in e.message, e.message
    return e


def test_malformed_heads():
    _bad(b"HTTP/2 200 OK\r\n\r\n", "status line")
    _bad(b"HTTP/1.1 2x0 OK\r\n\r\n", "status code")
    _bad(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header line")
    _bad(b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", "folding")
    _bad(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "content-length")
    _bad(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting")
    _bad(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "transfer-encoding")
    # regression: only the last coding was checked, so a gzip body inside chunked framing
    # was passed on as if it were the plain body
    _bad(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "transfer-encoding")
    _bad(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size")
    _bad(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY", "CRLF")


def test_head_size_limit():
    p = HTTPResponseParser(max_header_bytes=256)
    p.receive_data(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 300)
    e = raises(ProtocolError, p.next_event)
    assert "longer than 256" in e.message and "HTTP/1.1" in e.message
    p = HTTPResponseParser(max_header_bytes=256)
    p.receive_data(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 300 + b"\r\n\r\n")
    raises(ProtocolError, p.next_event)


def test_eof_before_response():
    p = HTTPResponseParser()
    p.receive_data(b"")
    assert "before any response" in raises(ProtocolError, p.next_event).message


def test_content_range():
    assert parse_content_range("bytes 0-99/1000") == (0, 99, 1000)
    assert parse_content_range("bytes 1024-4095/4096") == (1024, 4095, 4096)
    assert parse_content_range("bytes 5-9/*") == (5, 9, None)
    assert parse_content_range("bytes */4096") == (None, None, 4096)
    for bad in ("bytes 9-5/10", "bytes 0-10/10", "items 0-1/2", "bytes 0-1", "bytes a-b/c",
                "bytes */*", None):
        raises(ProtocolError, parse_content_range, bad)


def test_build_request_exact_bytes():
    assert build_request("GET", "fw.example", "/f.fw?sig=1",
                         [("Range", "bytes=1024-"), ("X-Retry-Number", 2)]) == (
        b"GET /f.fw?sig=1 HTTP/1.1\r\nHost: fw.example\r\nRange: bytes=1024-\r\n"
        b"X-Retry-Number: 2\r\n\r\n")
    assert build_request("POST", "h", "/", [], body=b"abc") == (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")


def test_build_request_refuses_injection():
    e = raises(ProtocolError, build_request, "GET", "h", "/", [("X", "a\r\nEvil: 1")])
    assert e.remote is False
    raises(ProtocolError, build_request, "GET", "h", "no-slash")
    raises(ProtocolError, build_request, "GET", "h", "/", [("Bad Name", "v")])
