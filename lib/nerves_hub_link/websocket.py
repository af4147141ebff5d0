"""Sans-I/O RFC 6455 WebSocket client.

``WSClient.handshake_request()`` gives the upgrade request bytes. Then feed what the
server sends with ``receive_data`` (``b""`` = EOF) and pull events with ``next_event``:
``Accepted``/``Rejected`` for the upgrade, then ``TextMessage``, ``BytesMessage``,
``Ping``, ``Pong`` and ``CloseConnection``. ``send(event)`` returns masked frame bytes
for ``Message``, ``Ping``, ``Pong`` and ``Close``.

Automatic replies: the pong that answers a ``Ping``, the close frame that answers the
server's close, and the close frame announcing a protocol error are queued, never
sent by the core. Write ``pending_output()`` to the socket after handling events.

Peer errors raise ``ProtocolError(remote=True)`` with a ``code`` attribute (1002
protocol, 1007 bad UTF-8, 1009 too big); the client enters ERROR and
``pending_output()`` holds the close frame to send before dropping the connection.

Transition table (all state changes happen in ``_set_state``)::

    state           event                       next state
    IDLE            handshake_request()         CONNECTING
    CONNECTING      101 + valid accept key      OPEN           Accepted
    CONNECTING      any other final status      REJECTED       Rejected (after the body)
    OPEN            send(Close)                 LOCAL_CLOSING
    OPEN            close frame received        CLOSED         CloseConnection, reply queued
    LOCAL_CLOSING   close frame received        CLOSED         CloseConnection
    OPEN/CLOSING    EOF                         CLOSED         CloseConnection(1006)
    any             bad peer input              ERROR          ProtocolError(remote=True)

Largest buffers: the message being reassembled (``max_message``, default 1 MiB), the
receive buffer (what the caller fed and the core has not consumed yet), and one
outgoing frame (payload + 14 bytes).
"""

import binascii
import hashlib
import struct

from nerves_hub_link.errors import ProtocolError
from nerves_hub_link.http import (
    NEED_DATA,
    HTTPResponseParser,
    ReceiveBuffer,
    _Event,
    get_header,
)
from nerves_hub_link.http import Data as _HData
from nerves_hub_link.http import EndOfMessage as _HEnd
from nerves_hub_link.http import Response as _HResponse

__all__ = ["NEED_DATA"]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
MAX_MESSAGE = 1 << 20  # reassembled message limit (default)
MAX_CONTROL_PAYLOAD = 125  # RFC 6455 section 5.5
MAX_REJECT_BODY = 4096  # body kept from a refused upgrade (401/403 explanation)

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

# close codes, RFC 6455 section 7.4.1
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_NO_STATUS = 1005
CLOSE_ABNORMAL = 1006
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009

IDLE = "IDLE"
CONNECTING = "CONNECTING"
OPEN = "OPEN"
REJECTED = "REJECTED"
LOCAL_CLOSING = "LOCAL_CLOSING"
CLOSED = "CLOSED"
ERROR = "ERROR"

_TRANSITIONS = {
    IDLE: (CONNECTING,),
    CONNECTING: (OPEN, REJECTED, ERROR),
    OPEN: (LOCAL_CLOSING, CLOSED, ERROR),
    LOCAL_CLOSING: (CLOSED, ERROR),
    REJECTED: (ERROR,),
    CLOSED: (ERROR,),
    ERROR: (),
}


# ---- events ----------------------------------------------------------------

class Accepted(_Event):
    """The server switched protocols; ``headers`` of the 101 response."""

    _fields = ("headers",)


class Rejected(_Event):
    """The upgrade was refused: ``status``, ``headers``, ``body`` (first 4 KiB)."""

    _fields = ("status", "headers", "body")

    def header(self, name, default=None):
        return get_header(self.headers, name, default)


class TextMessage(_Event):
    """A complete text message (``data`` is str)."""

    _fields = ("data",)


class BytesMessage(_Event):
    """A complete binary message (``data`` is bytes)."""

    _fields = ("data",)


class Ping(_Event):
    """A ping (received or to send); ``payload`` bytes, at most 125."""

    _fields = ("payload",)

    def __init__(self, payload=b""):
        super().__init__(payload=payload)


class Pong(_Event):
    """A pong (received or to send)."""

    _fields = ("payload",)

    def __init__(self, payload=b""):
        super().__init__(payload=payload)


class CloseConnection(_Event):
    """The connection closed: ``code`` (1005 none given, 1006 dropped) and ``reason``."""

    _fields = ("code", "reason")

    def __init__(self, code=CLOSE_NO_STATUS, reason=""):
        super().__init__(code=code, reason=reason)


class Message(_Event):
    """To send: ``data`` str goes as a text frame, bytes as a binary frame."""

    _fields = ("data",)

    def __init__(self, data):
        super().__init__(data=data)


class Close(_Event):
    """To send: a close frame with ``code`` and ``reason``."""

    _fields = ("code", "reason")

    def __init__(self, code=CLOSE_NORMAL, reason=""):
        super().__init__(code=code, reason=reason)


# ---- helpers ----------------------------------------------------------------

def accept_key(key):
    """Sec-WebSocket-Accept value (str) for a Sec-WebSocket-Key (str or bytes)."""
    if isinstance(key, str):
        key = key.encode()
    return binascii.b2a_base64(hashlib.sha1(key + GUID).digest()).strip().decode()


def _mask_py(buf, start, n, key):
    """XOR ``buf[start:start+n]`` in place with the 4-byte ``key``."""
    end = start + n
    i = start
    # bulk XOR through big integers, 1 KiB at a time (fast on CPython)
    step = 1024
    kk = bytes(key) * (step // 4)
    try:
        while end - i >= step:
            a = int.from_bytes(buf[i:i + step], "little")
            b = int.from_bytes(kk, "little")
            buf[i:i + step] = (a ^ b).to_bytes(step, "little")
            i += step
    except (OverflowError, ValueError, AttributeError, TypeError):  # no long ints
        pass
    j = 0
    while i < end:
        buf[i] ^= key[j & 3]
        i += 1
        j += 1


_VIPER_SRC = """
@micropython.viper
def _mask_viper(buf: ptr8, start: int, n: int, key: ptr8):
    i = 0
    while i < n:
        buf[start + i] ^= key[i & 3]
        i += 1
"""


def _load_viper():
    # Compiled at run time so the file stays valid CPython and mpy-cross (no -march).
    try:
        import micropython  # portable: ok

        ns = {"micropython": micropython}
        exec(_VIPER_SRC, ns)
        fn = ns["_mask_viper"]
        probe = bytearray(5)
        fn(probe, 1, 4, b"\x01\x02\x03\x04")
        if bytes(probe) != b"\x00\x01\x02\x03\x04":
            return None
        return fn
    except Exception:  # no compiler, no native emitter: use the plain loop
        return None


_viper = _load_viper()


def mask(buf, start, n, key):
    """XOR-mask ``n`` bytes of bytearray ``buf`` from ``start`` with 4-byte ``key``."""
    if _viper is not None:
        _viper(buf, start, n, bytes(key))
    else:
        _mask_py(buf, start, n, key)


def _utf8_strict(b):
    """True when ``b`` is valid UTF-8 (no overlongs, surrogates or code points > U+10FFFF)."""
    n = len(b)
    i = 0
    while i < n:
        c = b[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            need, lo, hi = 1, 0x80, 0xBF
        elif 0xE0 <= c <= 0xEF:
            need = 2
            lo = 0xA0 if c == 0xE0 else 0x80
            hi = 0x9F if c == 0xED else 0xBF
        elif 0xF0 <= c <= 0xF4:
            need = 3
            lo = 0x90 if c == 0xF0 else 0x80
            hi = 0x8F if c == 0xF4 else 0xBF
        else:
            return False
        if i + need >= n:
            return False
        if not lo <= b[i + 1] <= hi:
            return False
        for k in range(2, need + 1):
            if not 0x80 <= b[i + k] <= 0xBF:
                return False
        i += need + 1
    return True


def decode_utf8(b):
    """Strict UTF-8 decode; raises UnicodeError on invalid input on every interpreter."""
    s = b.decode("utf-8")
    # MicroPython's decoder accepts overlongs and surrogates; CPython's does not.
    if len(s) != len(b) and not _utf8_strict(b):
        raise UnicodeError("invalid UTF-8")
    return s


def _valid_close_code(code):
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014) \
        or 3000 <= code <= 4999


# ---- the client -------------------------------------------------------------

class WSClient:
    """RFC 6455 client state machine; see the module docstring."""

    def __init__(self, host, path, extra_headers=None, rand=None, max_message=MAX_MESSAGE,
                 max_header_bytes=8192):
        if rand is None:
            raise ProtocolError("WSClient needs rand(n) for keys and masks", remote=False)
        self.host = host
        self.path = path
        self.extra_headers = list(extra_headers or ())
        self.rand = rand
        self.max_message = max_message
        self.state = IDLE
        self.close_code = None
        self._key = None
        self._http = HTTPResponseParser(max_header_bytes=max_header_bytes)
        self._reject = None  # (Response, bytearray body) while reading a refusal
        self._buf = ReceiveBuffer()
        self._eof = False
        self._out = bytearray()  # automatic replies
        self._hdr = bytearray(14)
        # current frame
        self._in_frame = False
        self._fin = False
        self._op = 0
        self._left = 0
        self._ctl = bytearray()
        # current message
        self._msg_op = None
        self._msg = bytearray()  # sized to the known length; _fill bytes are valid
        self._fill = 0

    # -- state --
    def _set_state(self, new):
        if new not in _TRANSITIONS[self.state]:
            raise ProtocolError("illegal transition %s -> %s" % (self.state, new), remote=False)
        self.state = new

    def _fail(self, code, msg):
        """Enter ERROR, queue a close frame with ``code``, and return the error to raise."""
        if self.state in (OPEN, LOCAL_CLOSING):
            reason = {1002: "protocol error", 1007: "invalid utf-8", 1009: "message too big"}
            self._out.extend(self._frame(OP_CLOSE, struct.pack(">H", code)
                                         + reason.get(code, "").encode()))
        self.state = ERROR
        self.close_code = code
        e = ProtocolError(msg, remote=True)
        e.code = code
        return e

    # -- handshake --
    def handshake_request(self):
        """Bytes of the HTTP upgrade request (IDLE -> CONNECTING)."""
        if self.state != IDLE:
            raise ProtocolError("handshake_request() in state %s" % self.state, remote=False)
        key = bytes(self.rand(16))
        if len(key) != 16:
            raise ProtocolError("rand(16) returned %d bytes" % len(key), remote=False)
        self._key = binascii.b2a_base64(key).strip().decode()
        lines = ["GET %s HTTP/1.1" % self.path, "Host: %s" % self.host,
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: %s" % self._key, "Sec-WebSocket-Version: 13"]
        for k, v in self.extra_headers:
            v = str(v)
            if "\r" in k or "\n" in k or "\r" in v or "\n" in v or ":" in k:
                raise ProtocolError("bad extra header %r: %r" % (k, v), remote=False)
            lines.append("%s: %s" % (k, v))
        self._set_state(CONNECTING)
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    # -- input --
    def receive_data(self, data):
        """Store bytes from the server; ``b""`` means the connection was closed."""
        if self.state == ERROR:
            raise ProtocolError("receive_data() after a protocol error", remote=False)
        if self.state == IDLE:
            raise ProtocolError("receive_data() before handshake_request()", remote=False)
        if not data:
            self._eof = True
            if self.state == CONNECTING:
                self._http.receive_data(b"")
            return
        if self._eof:
            raise ProtocolError("receive_data() after EOF", remote=False)
        if self.state == CONNECTING:
            self._http.receive_data(data)
        else:
            self._buf.append(data)

    def pending_output(self):
        """Automatic replies (pong, close) to write to the socket; empties the queue."""
        out = bytes(self._out)
        self._out = bytearray()
        return out

    def next_event(self):
        """Next event, or ``NEED_DATA``."""
        st = self.state
        if st == ERROR:
            raise ProtocolError("next_event() after a protocol error (close code %s)"
                                % self.close_code, remote=False)
        if st == IDLE:
            raise ProtocolError("next_event() before handshake_request()", remote=False)
        if st == CONNECTING:
            return self._handshake_event()
        if st in (REJECTED, CLOSED):
            return NEED_DATA
        ev = self._frame_event()
        if ev is NEED_DATA and self._eof:
            self._set_state(CLOSED)
            return CloseConnection(code=CLOSE_ABNORMAL, reason="")
        return ev

    def _handshake_event(self):
        try:
            while True:
                ev = self._http.next_event()
                if ev is NEED_DATA:
                    return NEED_DATA
                if isinstance(ev, _HResponse):
                    if ev.status == 101:
                        return self._accept(ev)
                    if ev.status >= 200:
                        self._reject = (ev, bytearray())
                elif isinstance(ev, _HData):
                    body = self._reject[1]
                    room = MAX_REJECT_BODY - len(body)
                    if room > 0:
                        body.extend(ev.chunk[:room])
                elif isinstance(ev, _HEnd):
                    resp, body = self._reject
                    self._set_state(REJECTED)
                    return Rejected(status=resp.status, headers=resp.headers, body=bytes(body))
        except ProtocolError as e:
            if self._reject is not None and self._eof:
                # a refusal whose body was cut short is still a refusal
                resp, body = self._reject
                self._set_state(REJECTED)
                return Rejected(status=resp.status, headers=resp.headers, body=bytes(body))
            self.state = ERROR
            e.remote = True
            e.code = CLOSE_PROTOCOL_ERROR
            raise

    def _accept(self, resp):
        up = resp.header("upgrade", "")
        conn = resp.header("connection", "")
        got = resp.header("sec-websocket-accept", "")
        want = accept_key(self._key)
        if up.lower() != "websocket":
            raise self._fail(CLOSE_PROTOCOL_ERROR, "101 without 'Upgrade: websocket' (got %r)"
                             % up[:32])
        if "upgrade" not in [t.strip().lower() for t in conn.split(",")]:
            raise self._fail(CLOSE_PROTOCOL_ERROR, "101 without 'Connection: Upgrade' (got %r)"
                             % conn[:32])
        if got != want:
            raise self._fail(CLOSE_PROTOCOL_ERROR, "bad Sec-WebSocket-Accept: expected %r, got %r"
                             % (want, got[:40]))
        if resp.header("sec-websocket-extensions"):
            raise self._fail(CLOSE_PROTOCOL_ERROR, "server chose an extension we did not offer: %r"
                             % resp.header("sec-websocket-extensions")[:40])
        rest = self._http.trailing_data
        self._set_state(OPEN)
        if rest:
            self._buf.append(rest)
        return Accepted(headers=resp.headers)

    # -- frames --
    def _parse_header(self):
        """Parse a frame header all-or-nothing; False when more bytes are needed."""
        buf = self._buf
        avail = len(buf)
        if avail < 2:
            return False
        b0, b1 = buf.peek(2)
        ln = b1 & 0x7F
        hlen = 2 + (2 if ln == 126 else 8 if ln == 127 else 0) + (4 if b1 & 0x80 else 0)
        if avail < hlen:
            return False
        raw = buf.take(hlen)
        if ln == 126:
            ln = struct.unpack(">H", raw[2:4])[0]
        elif ln == 127:
            hi, lo = struct.unpack(">II", raw[2:10])
            if hi & 0x80000000:
                raise self._fail(CLOSE_PROTOCOL_ERROR, "frame length with the top bit set: %r"
                                 % raw)
            if hi:
                raise self._fail(CLOSE_TOO_BIG, "frame of %d bytes is over the %d byte limit"
                                 % (hi * 4294967296 + lo, self.max_message))
            ln = lo
        if b1 & 0x80:
            raise self._fail(CLOSE_PROTOCOL_ERROR, "server sent a masked frame: %r" % raw)
        if b0 & 0x70:
            raise self._fail(CLOSE_PROTOCOL_ERROR, "reserved bits set in frame header %r" % raw)
        op = b0 & 0x0F
        fin = bool(b0 & 0x80)
        if op >= 8:
            if op not in (OP_CLOSE, OP_PING, OP_PONG):
                raise self._fail(CLOSE_PROTOCOL_ERROR, "unknown control opcode 0x%x" % op)
            if not fin:
                raise self._fail(CLOSE_PROTOCOL_ERROR, "fragmented control frame 0x%x" % op)
            if ln > MAX_CONTROL_PAYLOAD:
                raise self._fail(CLOSE_PROTOCOL_ERROR, "control frame 0x%x with %d bytes (max %d)"
                                 % (op, ln, MAX_CONTROL_PAYLOAD))
            self._ctl = bytearray()
        elif op == OP_CONT:
            if self._msg_op is None:
                raise self._fail(CLOSE_PROTOCOL_ERROR, "continuation frame without a message")
        elif op in (OP_TEXT, OP_BINARY):
            if self._msg_op is not None:
                raise self._fail(CLOSE_PROTOCOL_ERROR,
                                 "new data frame 0x%x inside a fragmented message" % op)
            self._msg_op = op
            self._fill = 0
        else:
            raise self._fail(CLOSE_PROTOCOL_ERROR, "unknown data opcode 0x%x" % op)
        if op < 8:
            total = self._fill + ln
            if total > self.max_message:
                raise self._fail(CLOSE_TOO_BIG, "message of at least %d bytes is over the %d byte"
                                 " limit" % (total, self.max_message))
            if total > len(self._msg):
                # grow to the announced size (MicroPython's extend grows linearly), at least
                # doubling so that many small fragments do not copy O(n^2) bytes
                new = bytearray(max(total, min(2 * len(self._msg), self.max_message)))
                new[:self._fill] = memoryview(self._msg)[:self._fill]
                self._msg = new
        self._in_frame, self._fin, self._op, self._left = True, fin, op, ln
        return True

    def _frame_event(self):
        while True:
            if not self._in_frame and not self._parse_header():
                return NEED_DATA
            if self._left:
                if not len(self._buf):
                    return NEED_DATA
                if self._op >= 8:
                    chunk = self._buf.take(self._left)
                    self._ctl.extend(chunk)
                    got = len(chunk)
                else:
                    got = self._buf.take_into(self._msg, self._fill, self._left)
                    self._fill += got
                self._left -= got
                if self._left:
                    return NEED_DATA
            self._in_frame = False
            ev = self._frame_done()
            if ev is not None:
                return ev

    def _frame_done(self):
        op = self._op
        if op == OP_PING:
            payload = bytes(self._ctl)
            if self.state == OPEN:
                self._out.extend(self._frame(OP_PONG, payload))
            return Ping(payload=payload)
        if op == OP_PONG:
            return Pong(payload=bytes(self._ctl))
        if op == OP_CLOSE:
            return self._close_received(bytes(self._ctl))
        if not self._fin:
            return None
        msg, n = self._msg, self._fill
        if len(msg) != n:
            msg = msg[:n]
        self._msg = bytearray()
        self._fill = 0
        kind, self._msg_op = self._msg_op, None
        if kind == OP_BINARY:
            return BytesMessage(data=bytes(msg))
        try:
            text = decode_utf8(msg)
        except UnicodeError:
            raise self._fail(CLOSE_INVALID_DATA, "text message is not valid UTF-8: %r"
                             % bytes(msg[:32]))
        return TextMessage(data=text)

    def _close_received(self, payload):
        if len(payload) == 1:
            raise self._fail(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload %r"
                             % payload)
        if payload:
            code = struct.unpack(">H", payload[:2])[0]
            if not _valid_close_code(code):
                raise self._fail(CLOSE_PROTOCOL_ERROR, "invalid close code %d" % code)
            try:
                reason = decode_utf8(payload[2:])
            except UnicodeError:
                raise self._fail(CLOSE_INVALID_DATA, "close reason is not valid UTF-8: %r"
                                 % payload[2:34])
        else:
            code, reason = CLOSE_NO_STATUS, ""
        if self.state == OPEN:
            # echo the status code (RFC 6455 section 5.5.1); 1005 is never sent
            self._out.extend(self._frame(OP_CLOSE, payload[:2]))
        self.close_code = code
        self._set_state(CLOSED)
        return CloseConnection(code=code, reason=reason)

    # -- output --
    def _frame(self, op, payload):
        """One masked frame (FIN set) as bytes."""
        n = len(payload)
        hdr = self._hdr
        hdr[0] = 0x80 | op
        if n < 126:
            hdr[1] = 0x80 | n
            hl = 2
        elif n < 65536:
            hdr[1] = 0x80 | 126
            struct.pack_into(">H", hdr, 2, n)
            hl = 4
        else:
            hdr[1] = 0x80 | 127
            struct.pack_into(">II", hdr, 2, n // 4294967296, n % 4294967296)
            hl = 10
        key = bytes(self.rand(4))
        if len(key) != 4:
            raise ProtocolError("rand(4) returned %d bytes" % len(key), remote=False)
        out = bytearray(hl + 4 + n)
        out[:hl] = hdr[:hl]
        out[hl:hl + 4] = key
        out[hl + 4:] = payload
        mask(out, hl + 4, n, key)
        return bytes(out)

    def send(self, event):
        """Bytes of one masked frame for ``Message``, ``Ping``, ``Pong`` or ``Close``."""
        st = self.state
        if isinstance(event, Message):
            if st != OPEN:
                raise ProtocolError("send(Message) in state %s" % st, remote=False)
            data = event.data
            if isinstance(data, str):
                return self._frame(OP_TEXT, data.encode())
            return self._frame(OP_BINARY, bytes(data))
        if isinstance(event, (Ping, Pong)):
            if st not in (OPEN, LOCAL_CLOSING):
                raise ProtocolError("send(%s) in state %s" % (type(event).__name__, st),
                                    remote=False)
            payload = bytes(event.payload)
            if len(payload) > MAX_CONTROL_PAYLOAD:
                raise ProtocolError("%s payload of %d bytes (max 125)"
                                    % (type(event).__name__, len(payload)), remote=False)
            return self._frame(OP_PING if isinstance(event, Ping) else OP_PONG, payload)
        if isinstance(event, (Close, CloseConnection)):
            if st != OPEN:
                raise ProtocolError("send(Close) in state %s" % st, remote=False)
            code = event.code
            if code is None or code == CLOSE_NO_STATUS:
                payload = b""
            else:
                if not _valid_close_code(code):
                    raise ProtocolError("close code %r may not be sent" % (code,), remote=False)
                payload = struct.pack(">H", code) + (event.reason or "").encode()
            if len(payload) > MAX_CONTROL_PAYLOAD:
                raise ProtocolError("close reason too long (%d bytes)" % len(payload),
                                    remote=False)
            frame = self._frame(OP_CLOSE, payload)
            self._set_state(LOCAL_CLOSING)
            return frame
        raise ProtocolError("send() cannot send %r" % (event,), remote=False)
