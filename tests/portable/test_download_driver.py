# heapsize: 1M
# The asyncio download driver over an in-memory fake network (runs on both interpreters).
import asyncio

from nerves_hub_link import download as dl
from nerves_hub_link.errors import DownloadError, FwupError
from support import raises

BODY = bytes(range(256)) * 40  # 10 240 bytes, every offset distinguishable


class Sink:
    def __init__(self, fail_at=None):
        self.data = bytearray()
        self.restarts = 0
        self.fail_at = fail_at

    def write(self, chunk):
        self.data.extend(chunk)
        if self.fail_at is not None and len(self.data) >= self.fail_at:
            raise FwupError("bad signature")

    def restart(self):
        self.restarts += 1
        self.data = bytearray()


class Reader:
    def __init__(self, pieces):
        self.pieces = list(pieces)

    async def read(self, n):
        if not self.pieces:
            return b""
        p = self.pieces.pop(0)
        if p is None:  # a peer that goes silent
            await asyncio.sleep(60)
        if isinstance(p, Exception):
            raise p
        if len(p) > n:
            self.pieces.insert(0, p[n:])
            p = p[:n]
        return p


class Writer:
    def __init__(self, net, step):
        self.net = net
        self.step = step
        self.closed = False
        self.reader = None

    def write(self, b):
        self.net.requests.append(bytes(b))

    async def drain(self):
        # the reply is produced once the request is known (it may depend on its Range)
        step = self.step
        if callable(step):
            r = self.net.range_of(len(self.net.requests) - 1)
            step = step(int(r[:-1]) if r else 0)
        self.reader.pieces = list(step)

    def close(self):
        self.closed = True


class Net:
    """One scripted reply per connection: an exception (connect fails), a list of pieces
    (sent as is), or a function of the request's Range start returning such a list."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        self.connects = []

    async def open_connection(self, host, port, tls):
        self.connects.append((host, port, tls))
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        reader = Reader([])
        writer = Writer(self, step)
        writer.reader = reader
        return reader, writer

    def range_of(self, i):
        for line in self.requests[i].split(b"\r\n"):
            if line.lower().startswith(b"range:"):
                return line.split(b"=")[1].decode()
        return None


def head(status, headers):
    lines = ["HTTP/1.1 %d X" % status] + ["%s: %s" % kv for kv in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ok(body, cut=None):
    data = head(200, [("Content-Length", len(body))]) + body
    return [data[:cut] if cut is not None else data]


def partial(start, body, cut=None):
    part = body[start:]
    h = head(206, [("Content-Length", len(part)),
                   ("Content-Range", "bytes %d-%d/%d" % (start, len(body) - 1, len(body)))])
    data = h + part
    return [data[:cut] if cut is not None else data]


class Clock:
    def __init__(self):
        self.now = 0
        self.slept = []

    def ticks_ms(self):
        return self.now

    async def sleep_ms(self, ms):
        self.slept.append(ms)
        self.now += ms


def run(net, sink, url="http://h:8000/fw.fw?sig=abc", events=None, **retry):
    clock = Clock()
    retry.setdefault("time_between_retries", 7)

    def listener(ev, info):
        if events is not None:
            events.append((ev, info))

    d = dl.Downloader(url, sink, net.open_connection, clock.ticks_ms, clock.sleep_ms,
                      dl.RetryConfig(**retry), listener=listener)
    return asyncio.run(d.run()), clock


def test_plain_download():
    net = Net([ok(BODY)])
    sink = Sink()
    st, clock = run(net, sink)
    assert bytes(sink.data) == BODY and st.received == len(BODY)
    assert net.connects == [("h", 8000, False)]
    req = net.requests[0]
    assert req.startswith(b"GET /fw.fw?sig=abc HTTP/1.1\r\n")
    assert b"\r\nHost: h:8000\r\n" in req and b"X-Retry-Number: 0" in req
    assert clock.slept == []


def test_resume_after_disconnects_uses_range_and_206():
    h200 = len(head(200, [("Content-Length", len(BODY))]))
    net = Net([ok(BODY, cut=h200 + 1000),
               lambda start: partial(start, BODY, cut=300 + 1500),
               lambda start: partial(start, BODY)])
    sink = Sink()
    events = []
    st, clock = run(net, sink, events=events)
    assert bytes(sink.data) == BODY
    assert net.range_of(0) is None
    assert net.range_of(1) == "1000-"
    h206 = len(partial(1000, BODY)[0]) - (len(BODY) - 1000)
    assert net.range_of(2) == "%d-" % (1000 + 300 + 1500 - h206)
    assert st.received == len(BODY) and sink.restarts == 0
    assert clock.slept == [7, 7]
    assert [e for e, _ in events].count("request") == 3
    assert b"X-Retry-Number: 2" in net.requests[2]


def test_200_on_resume_restarts_the_sink():
    h200 = len(head(200, [("Content-Length", len(BODY))]))
    net = Net([ok(BODY, cut=h200 + 500), ok(BODY)])
    sink = Sink()
    st, _ = run(net, sink)
    assert net.range_of(1) == "500-"
    assert bytes(sink.data) == BODY and sink.restarts == 1
    assert st.received == len(BODY) + 500


def test_connect_errors_retry_until_max_disconnects():
    net = Net([OSError(111), OSError(111), OSError(111)])
    e = raises(DownloadError, run, net, Sink(), max_disconnects=3)
    assert e.reason == "max_disconnects_reached"
    assert "secret" not in str(e)


def test_404_is_not_retried():
    net = Net([[head(404, [("Content-Length", 0)])], ok(BODY)])
    e = raises(DownloadError, run, net, Sink())
    assert e.reason == "http_error 404"
    assert len(net.connects) == 1


def test_redirect_is_followed_without_delay():
    net = Net([[head(302, [("Location", "http://other:9000/real.fw"), ("Content-Length", 0)])],
               ok(BODY)])
    sink = Sink()
    st, clock = run(net, sink)
    assert net.connects == [("h", 8000, False), ("other", 9000, False)]
    assert net.requests[1].startswith(b"GET /real.fw HTTP/1.1")
    assert clock.slept == [] and bytes(sink.data) == BODY


def test_https_to_http_redirect_is_refused_without_retry():
    loc = "http://other:9000/real.fw?sig=zzz"
    net = Net([[head(302, [("Location", loc), ("Content-Length", 0)])], ok(BODY)])
    e = raises(DownloadError, run, net, Sink(), url="https://h/fw.fw?sig=abc")
    assert e.reason == "insecure_redirect" and "zzz" not in str(e)
    assert net.connects == [("h", 443, True)]


def test_206_without_length_is_capped_at_its_range():
    h200 = len(head(200, [("Content-Length", len(BODY))]))

    def unframed(start, extra):
        rng = "bytes %d-%d/%d" % (start, len(BODY) - 1, len(BODY))
        return [head(206, [("Content-Range", rng)]) + BODY[start:] + extra]

    net = Net([ok(BODY, cut=h200 + 1000),
               lambda start: unframed(start, b"EXTRA BYTES PAST THE RANGE"),
               lambda start: unframed(start, b"") + [None]])  # then silence, no close
    sink = Sink()
    events = []
    st, clock = run(net, sink, events=events, idle_timeout=30)
    assert bytes(sink.data) == BODY and st.offset == st.total == len(BODY)
    assert [i["reason"] for e, i in events if e == "retry"] == ["connection_closed",
                                                                 "protocol_error"]
    # the read that overran the range handed none of its bytes to the sink
    assert 1000 < int(net.range_of(2)[:-1]) < len(BODY)


def test_failing_close_is_logged_and_a_writer_bug_is_not_hidden():
    from nerves_hub_link import log

    class BadClose(Net):
        def __init__(self, script, exc):
            super().__init__(script)
            self.exc = exc

        async def open_connection(self, host, port, tls):
            reader, writer = await super().open_connection(host, port, tls)
            exc = self.exc

            def close():
                raise exc

            writer.close = close
            return reader, writer

    lines = []
    log.set_sink(lines.append)
    log.set_level(log.DEBUG)
    try:
        sink = Sink()
        run(BadClose([ok(BODY)], OSError(9)), sink)
        assert bytes(sink.data) == BODY
        assert any("close" in x and "OSError" in x for x in lines), lines
        raises(AttributeError, run, BadClose([ok(BODY)], AttributeError("bug")), Sink())
    finally:
        log.set_level(log.INFO)
        log.set_sink(None)


def test_sink_error_aborts_without_retry():
    net = Net([ok(BODY), ok(BODY)])
    raises(FwupError, run, net, Sink(fail_at=100))
    assert len(net.connects) == 1


def test_reset_mid_body_is_retried():
    data = ok(BODY)[0]
    net = Net([[data[:2000], OSError(104)], lambda start: partial(start, BODY)])
    sink = Sink()
    st, _ = run(net, sink)
    assert bytes(sink.data) == BODY and st.retry_number == 1
    assert net.range_of(1) == "%d-" % (2000 - len(head(200, [("Content-Length", len(BODY))])))


def test_idle_timeout_is_retried():
    h = head(200, [("Content-Length", len(BODY))])
    net = Net([[h + BODY[:10], None], lambda start: partial(start, BODY)])
    sink = Sink()
    st, _ = run(net, sink, idle_timeout=30)
    assert bytes(sink.data) == BODY and st.retry_number == 1
    assert st.last_reason == "idle_timeout"
