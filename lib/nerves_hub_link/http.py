"""Sans-I/O HTTP/1.1 response parser (client side) and request builder.

Used by the firmware downloader and by the WebSocket upgrade. Feed bytes with
``receive_data`` (``b""`` = EOF) and pull events with ``next_event``:
``Response(status, reason, headers)``, then ``Data(chunk)`` zero or more times, then
``EndOfMessage()``; ``NEED_DATA`` when more bytes are needed. Bodies are framed by
Content-Length, chunked transfer coding, or the end of the connection.

Transition table (all transitions live in ``HTTPResponseParser``)::

    state     input                                  next state
    HEADERS   1xx (not 101) head                     HEADERS     (Response emitted)
    HEADERS   101 head                               SWITCHED    (rest in trailing_data)
    HEADERS   head, no body (HEAD, 204, 304, CL: 0)  DONE        (Response, EndOfMessage)
    HEADERS   head with Content-Length               LENGTH
    HEADERS   head with chunked                      CHUNK_SIZE
    HEADERS   head, neither                          UNTIL_EOF
    LENGTH    last body byte                         DONE
    CHUNK_*   last chunk + trailers                  DONE
    UNTIL_EOF EOF                                    DONE
    any       bad input / early EOF                  ERROR       (ProtocolError remote=True)
    ERROR     any call                               ProtocolError(remote=False)

Largest buffer: the receive buffer, which holds what the caller fed and has not
been consumed (a head is capped at ``max_header_bytes``, default 8 KiB); ``Data``
chunks are at most ``MAX_DATA_CHUNK`` bytes.
"""

from nerves_hub_link.errors import ProtocolError

MAX_HEADER_BYTES = 8192  # status line + headers (and trailers), like h11's 16 KiB cap
MAX_CHUNK_LINE = 1024  # "1a2b;ext=..." line of a chunked body
MAX_DATA_CHUNK = 16384  # largest Data event
MAX_HEADERS = 100

HEADERS = "HEADERS"
LENGTH = "LENGTH"
CHUNK_SIZE = "CHUNK_SIZE"
CHUNK_DATA = "CHUNK_DATA"
CHUNK_END = "CHUNK_END"
TRAILERS = "TRAILERS"
UNTIL_EOF = "UNTIL_EOF"
DONE = "DONE"
SWITCHED = "SWITCHED"
ERROR = "ERROR"


class _Sentinel:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


NEED_DATA = _Sentinel("NEED_DATA")


class _Event:
    _fields = ()

    def __init__(self, **kw):
        for f in self._fields:
            setattr(self, f, kw.pop(f, None))
        if kw:
            raise TypeError("unexpected fields %r for %s" % (sorted(kw), type(self).__name__))

    def __eq__(self, other):
        if type(self) is not type(other):
            return False
        for f in self._fields:
            if getattr(self, f) != getattr(other, f):
                return False
        return True

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "%s(%s)" % (
            type(self).__name__,
            ", ".join("%s=%r" % (f, getattr(self, f)) for f in self._fields),
        )


class Response(_Event):
    """Status line and headers; ``headers`` is a list of (lowercase name, value) str pairs."""

    _fields = ("status", "reason", "headers")

    def header(self, name, default=None):
        """Value of the first header called ``name`` (case-insensitive), else ``default``."""
        return get_header(self.headers, name, default)


class Data(_Event):
    """A piece of the body (bytes)."""

    _fields = ("chunk",)


class EndOfMessage(_Event):
    """The body is complete."""

    _fields = ()


def get_header(headers, name, default=None):
    """First value of ``name`` (case-insensitive) in a list of (name, value) pairs."""
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


class ReceiveBuffer:
    """Append-only byte buffer with a read offset; compacts instead of slicing per read."""

    def __init__(self):
        self.buf = bytearray()
        self.pos = 0
        self._searched = 0  # how far find() has already looked, so it never rescans

    def __len__(self):
        return len(self.buf) - self.pos

    def append(self, data):
        if self.pos and self.pos >= len(self.buf):
            self.buf = bytearray()
            self.pos = 0
            self._searched = 0
        self.buf.extend(data)

    def take(self, n):
        """Remove and return up to ``n`` bytes."""
        end = min(self.pos + n, len(self.buf))
        out = bytes(memoryview(self.buf)[self.pos:end])
        self._consumed(end)
        return out

    def take_into(self, dst, off, n):
        """Move up to ``n`` bytes into bytearray ``dst`` at ``off``; returns the count."""
        end = min(self.pos + n, len(self.buf))
        k = end - self.pos
        memoryview(dst)[off:off + k] = memoryview(self.buf)[self.pos:end]
        self._consumed(end)
        return k

    def _consumed(self, end):
        self.pos = end
        self._searched = end
        if self.pos > 4096 and self.pos * 2 > len(self.buf):
            self.buf = self.buf[self.pos:]
            self._searched -= self.pos
            self.pos = 0

    def peek(self, n):
        return bytes(self.buf[self.pos:self.pos + n])

    def find(self, needle):
        """Offset (relative to the read position) just past ``needle``, or -1."""
        start = max(self.pos, self._searched - len(needle) + 1)
        i = self.buf.find(needle, start)
        if i < 0:
            self._searched = len(self.buf)
            return -1
        return i + len(needle) - self.pos


def _err(msg, hint=None):
    return ProtocolError(msg, hint=hint, remote=True)


def _text(b):
    """Decode header bytes: UTF-8 when valid, else byte-for-byte (latin-1)."""
    try:
        return b.decode()
    except UnicodeError:
        return "".join(chr(c) for c in b)


def _is_token(s):
    if not s:
        return False
    for c in s:
        o = ord(c)
        if o <= 32 or o >= 127 or c in '"(),/:;<=>?@[\\]{}':
            return False
    return True


def _parse_int(text, what, base=10):
    t = text.strip()
    digits = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
    if not t or len(t) > 18 or any(c not in digits for c in t):
        raise _err("bad %s %r" % (what, text[:32]))
    return int(t, base)


class HTTPResponseParser:
    """Parser for one HTTP/1.1 response (see the module docstring)."""

    def __init__(self, max_header_bytes=MAX_HEADER_BYTES, request_method="GET"):
        self.max_header_bytes = max_header_bytes
        self.request_method = request_method.upper()
        self.state = HEADERS
        self.response = None
        self._buf = ReceiveBuffer()
        self._eof = False
        self._remaining = 0  # body bytes left in LENGTH / CHUNK_DATA
        self._received = 0  # body bytes passed on so far
        self._expected = None  # Content-Length, if given
        self._pending = None  # EndOfMessage to emit after a Response

    @property
    def trailing_data(self):
        """Bytes received after the end of a 101 response (or of the message)."""
        return self._buf.peek(len(self._buf))

    def receive_data(self, data):
        """Store ``data``; ``b""`` means the peer closed the connection."""
        if self.state == ERROR:
            raise ProtocolError("receive_data() after a protocol error", remote=False)
        if not data:
            self._eof = True
        elif self._eof:
            raise ProtocolError("receive_data() after EOF", remote=False)
        else:
            self._buf.append(data)

    def next_event(self):
        """Next event, or ``NEED_DATA``."""
        if self.state == ERROR:
            raise ProtocolError("next_event() after a protocol error", remote=False)
        if self._pending is not None:
            ev, self._pending = self._pending, None
            return ev
        try:
            return self._step()
        except ProtocolError as e:
            self.state = ERROR
            e.remote = True
            raise

    def _step(self):
        st = self.state
        if st == HEADERS:
            return self._read_head()
        if st in (DONE, SWITCHED):
            return NEED_DATA
        if st == LENGTH:
            if not len(self._buf):
                if self._eof:
                    raise _err(
                        "connection closed after %d of %d body bytes"
                        % (self._received, self._expected),
                        hint="resume the download with a Range request",
                    )
                return NEED_DATA
            chunk = self._buf.take(min(self._remaining, MAX_DATA_CHUNK))
            self._remaining -= len(chunk)
            self._received += len(chunk)
            if not self._remaining:
                self.state = DONE
                self._pending = EndOfMessage()
            return Data(chunk=chunk)
        if st == UNTIL_EOF:
            if len(self._buf):
                chunk = self._buf.take(MAX_DATA_CHUNK)
                self._received += len(chunk)
                return Data(chunk=chunk)
            if self._eof:
                self.state = DONE
                return EndOfMessage()
            return NEED_DATA
        return self._chunked(st)

    def _need(self, what):
        if self._eof:
            raise _err(
                "connection closed in %s after %d body bytes" % (what, self._received),
                hint="resume the download with a Range request",
            )
        return NEED_DATA

    def _chunked(self, st):
        if st == CHUNK_SIZE:
            n = self._buf.find(b"\r\n")
            if n < 0:
                if len(self._buf) > MAX_CHUNK_LINE:
                    raise _err("chunk size line longer than %d bytes: %r"
                               % (MAX_CHUNK_LINE, self._buf.peek(32)))
                return self._need("a chunk size line")
            line = self._buf.take(n)[:-2]
            size_txt = _text(line.split(b";", 1)[0])
            self._remaining = _parse_int(size_txt, "chunk size", 16)
            self.state = CHUNK_DATA if self._remaining else TRAILERS
            return self._step()
        if st == CHUNK_DATA:
            if not len(self._buf):
                return self._need("chunk data")
            chunk = self._buf.take(min(self._remaining, MAX_DATA_CHUNK))
            self._remaining -= len(chunk)
            self._received += len(chunk)
            if not self._remaining:
                self.state = CHUNK_END
            return Data(chunk=chunk)
        if st == CHUNK_END:
            if len(self._buf) < 2:
                return self._need("the CRLF after a chunk")
            crlf = self._buf.take(2)
            if crlf != b"\r\n":
                raise _err("expected CRLF after chunk data, got %r" % crlf)
            self.state = CHUNK_SIZE
            return self._step()
        # TRAILERS: header lines until an empty line; their content is dropped
        while True:
            n = self._buf.find(b"\r\n")
            if n < 0:
                if len(self._buf) > self.max_header_bytes:
                    raise _err("trailers longer than %d bytes" % self.max_header_bytes)
                return self._need("the trailers")
            line = self._buf.take(n)
            if line == b"\r\n":
                self.state = DONE
                return EndOfMessage()

    def _read_head(self):
        n = self._buf.find(b"\r\n\r\n")
        if n < 0:
            if len(self._buf) > self.max_header_bytes:
                raise _err(
                    "response head longer than %d bytes: %r"
                    % (self.max_header_bytes, self._buf.peek(32)),
                )
            if self._eof:
                if not len(self._buf):
                    raise _err("connection closed before any response")
                raise _err("connection closed inside the response head: %r"
                           % self._buf.peek(32))
            return NEED_DATA
        if n > self.max_header_bytes:
            raise _err("response head longer than %d bytes: %r"
                       % (self.max_header_bytes, self._buf.peek(32)))
        text = _text(self._buf.take(n))
        lines = text.split("\r\n")[:-2]
        status, reason = self._status_line(lines[0])
        headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t"):
                raise _err("obsolete header line folding: %r" % line[:32])
            i = line.find(":")
            if i <= 0 or not _is_token(line[:i]):
                raise _err("malformed header line %r" % line[:32])
            headers.append((line[:i].lower(), line[i + 1:].strip()))
            if len(headers) > MAX_HEADERS:
                raise _err("more than %d headers" % MAX_HEADERS)
        resp = Response(status=status, reason=reason, headers=headers)
        self.response = resp
        if status == 101:
            self.state = SWITCHED
            return resp
        if status < 200:
            return resp  # informational: another head follows
        self._choose_framing(status, headers)
        return resp

    def _status_line(self, line):
        parts = line.split(" ", 2)
        if len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0"):
            raise _err("bad status line %r" % line[:32], hint="is this an HTTP/1.1 server?")
        code = parts[1]
        if len(code) != 3 or any(c not in "0123456789" for c in code):
            raise _err("bad status code in %r" % line[:32])
        return int(code), (parts[2] if len(parts) > 2 else "")

    def _choose_framing(self, status, headers):
        te = get_header(headers, "transfer-encoding")
        cls = [v for k, v in headers if k == "content-length"]
        no_body = self.request_method == "HEAD" or status in (204, 304)
        if no_body:
            self.state = DONE
        elif te is not None:
            # only plain chunked: we cannot undo another coding (gzip, ...) applied before it
            if [c.strip() for c in te.lower().split(",") if c.strip()] != ["chunked"]:
                raise _err("unsupported transfer-encoding %r" % te[:32],
                           hint="only 'chunked' is supported")
            self.state = CHUNK_SIZE
        elif cls:
            values = []
            for v in cls:
                values.extend(x.strip() for x in v.split(","))
            n = _parse_int(values[0], "content-length")
            for v in values[1:]:
                if _parse_int(v, "content-length") != n:
                    raise _err("conflicting content-length values %r" % cls)
            self._expected = n
            self._remaining = n
            self.state = LENGTH if n else DONE
        else:
            self.state = UNTIL_EOF
        if self.state == DONE:
            self._pending = EndOfMessage()


def parse_content_range(value):
    """Parse ``bytes START-END/TOTAL`` into ``(start, end, total)``.

    ``total`` is None for ``*``; ``bytes */TOTAL`` (a 416 answer) gives
    ``(None, None, total)``. Raises ProtocolError on anything else.
    """
    v = value.strip() if isinstance(value, str) else ""
    if not v.startswith("bytes "):
        raise _err("bad Content-Range %r: expected 'bytes START-END/TOTAL'" % (value,))
    rng, sep, total_txt = v[6:].strip().partition("/")
    if not sep:
        raise _err("bad Content-Range %r: no '/'" % value)
    total = None if total_txt == "*" else _parse_int(total_txt, "Content-Range total")
    if rng == "*":
        if total is None:
            raise _err("bad Content-Range %r" % value)
        return None, None, total
    a, sep, b = rng.partition("-")
    if not sep:
        raise _err("bad Content-Range %r: no '-'" % value)
    start = _parse_int(a, "Content-Range start")
    end = _parse_int(b, "Content-Range end")
    if end < start or (total is not None and end >= total):
        raise _err("inconsistent Content-Range %r" % value)
    return start, end, total


def _check_field(text, what):
    if not isinstance(text, str) or "\r" in text or "\n" in text or "\0" in text:
        raise ProtocolError("%s %r may not contain CR, LF or NUL" % (what, text), remote=False)
    return text


def build_request(method, host, path, headers=None, body=None):
    """Bytes of an HTTP/1.1 request; adds ``Host`` (and Content-Length for a body)."""
    _check_field(method, "method")
    _check_field(path, "path")
    if not path.startswith("/") or " " in path:
        raise ProtocolError("request path %r must start with '/' and have no spaces" % path,
                            remote=False)
    lines = ["%s %s HTTP/1.1" % (method, path)]
    names = set()
    for k, _v in headers or ():
        if not _is_token(k):
            raise ProtocolError("bad header name %r" % (k,), remote=False)
        names.add(k.lower())
    if "host" not in names:
        lines.append("Host: " + _check_field(host, "host"))
    for k, v in headers or ():
        lines.append("%s: %s" % (k, _check_field(str(v), "header value")))
    if body is not None and "content-length" not in names:
        lines.append("Content-Length: %d" % len(body))
    out = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return out + bytes(body) if body else out
