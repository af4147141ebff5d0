"""Interop over real sockets on 127.0.0.1 (CPython only).

- our WebSocket core (driven over a plain blocking socket) against a `websockets`
  server: handshake, refused upgrade, text echo, binary echo, ping both ways,
  fragmented message, close;
- our HTTP parser against an aiohttp server: Content-Length, chunked, Range/206;
- the Phoenix core over our WebSocket core against a small Phoenix-speaking server.
"""

import asyncio
import json
import os
import socket
import threading
from http import HTTPStatus

import pytest
from aiohttp import web
from nerves_hub_link.http import (
    NEED_DATA,
    Data,
    EndOfMessage,
    HTTPResponseParser,
    Response,
    build_request,
    parse_content_range,
)
from nerves_hub_link.phoenix import Channels, Joined, Push, Reply, socket_path
from nerves_hub_link.websocket import (
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
)
from websockets.sync.server import serve

# ---- a websockets server in a thread -------------------------------------------


def _echo_handler(ws):
    for msg in ws:
        if msg == "frag":
            ws.send(["ab", "cd", "ef"])  # one message in three frames
        elif msg == "ping-me":
            waiter = ws.ping(b"hi")
            ws.send("pong-ok" if waiter.wait(5) else "no-pong")
        elif msg == "header":
            ws.send(ws.request.headers.get("x-device", "missing"))
        else:
            ws.send(msg)


def _process_request(connection, request):
    if request.path.startswith("/reject"):
        return connection.respond(HTTPStatus.FORBIDDEN, "bad certificate\n")
    return None


@pytest.fixture(scope="module")
def ws_server():
    server = serve(_echo_handler, "127.0.0.1", 0, process_request=_process_request,
                   compression=None)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.socket.getsockname()[1]
    server.shutdown()
    t.join(5)


class WSConn:
    """Drive WSClient over a blocking socket."""

    def __init__(self, port, path="/", headers=()):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.ws = WSClient("127.0.0.1:%d" % port, path, extra_headers=list(headers),
                           rand=os.urandom)
        self.sock.sendall(self.ws.handshake_request())

    def next(self):
        while True:
            ev = self.ws.next_event()
            out = self.ws.pending_output()
            if out:
                self.sock.sendall(out)
            if ev is not NEED_DATA:
                return ev
            self.ws.receive_data(self.sock.recv(65536))

    def send(self, event):
        self.sock.sendall(self.ws.send(event))

    def close(self):
        self.sock.close()


def test_ws_handshake_echo_ping_fragments_close(ws_server):
    c = WSConn(ws_server, "/socket/websocket?vsn=2.0.0", [("x-device", "test-device")])
    try:
        assert isinstance(c.next(), Accepted)
        c.send(Message("hello"))
        assert c.next() == TextMessage(data="hello")
        c.send(Message("header"))
        assert c.next() == TextMessage(data="test-device")
        c.send(Message("caf\u00e9 \u2603"))
        assert c.next() == TextMessage(data="caf\u00e9 \u2603")
        blob = os.urandom(200000)  # 64-bit length path, masking of a large payload
        c.send(Message(blob))
        assert c.next() == BytesMessage(data=blob)
        c.send(Message(b"x" * 300))  # 16-bit length path
        assert c.next() == BytesMessage(data=b"x" * 300)
        c.send(Message("frag"))
        assert c.next() == TextMessage(data="abcdef")
        c.send(Ping(b"are you there"))
        assert c.next() == Pong(payload=b"are you there")
        c.send(Message("ping-me"))  # server pings; our automatic pong must satisfy it
        assert c.next() == Ping(payload=b"hi")
        assert c.next() == TextMessage(data="pong-ok")
        c.send(Close(1000, "bye"))
        ev = c.next()
        assert isinstance(ev, CloseConnection) and ev.code == 1000
        assert c.ws.state == "CLOSED"
    finally:
        c.close()


def test_ws_server_close_is_answered(ws_server):
    c = WSConn(ws_server)
    try:
        assert isinstance(c.next(), Accepted)
        c.sock.shutdown(socket.SHUT_WR)  # server sees EOF and closes
        while True:
            ev = c.next()
            if isinstance(ev, CloseConnection):
                break
        assert ev.code in (1000, 1006)
    finally:
        c.close()


def test_ws_refused_upgrade(ws_server):
    c = WSConn(ws_server, "/reject")
    try:
        ev = c.next()
        assert isinstance(ev, Rejected) and ev.status == 403
        assert ev.body == b"bad certificate\n"
    finally:
        c.close()


# ---- an aiohttp server in a thread ------------------------------------------------


class AioServer:
    def __init__(self, app):
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.port = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def stop(self):
        fut = asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop)
        fut.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


BODY = bytes(range(256)) * 200  # 51200 bytes


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    path = tmp_path_factory.mktemp("http") / "fw.bin"
    path.write_bytes(BODY)

    async def length(request):
        return web.Response(body=BODY[:1000])

    async def chunked(request):
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(BODY), 7000):
            await resp.write(BODY[i:i + 7000])
        await resp.write_eof()
        return resp

    async def fw(request):
        return web.FileResponse(path)

    app = web.Application()
    app.router.add_get("/len", length)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/fw.bin", fw)
    srv = AioServer(app)
    yield srv.port
    srv.stop()


def http_get(port, path, headers=()):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(build_request("GET", "127.0.0.1:%d" % port, path,
                                   [("Connection", "close")] + list(headers)))
        p = HTTPResponseParser()
        resp, body = None, bytearray()
        while True:
            ev = p.next_event()
            if ev is NEED_DATA:
                p.receive_data(sock.recv(8192))
            elif isinstance(ev, Response):
                resp = ev
            elif isinstance(ev, Data):
                body.extend(ev.chunk)
            elif isinstance(ev, EndOfMessage):
                return resp, bytes(body)
    finally:
        sock.close()


def test_http_content_length(http_server):
    resp, body = http_get(http_server, "/len")
    assert resp.status == 200 and resp.header("content-length") == "1000"
    assert body == BODY[:1000]


def test_http_chunked(http_server):
    resp, body = http_get(http_server, "/chunked")
    assert resp.header("transfer-encoding") == "chunked"
    assert body == BODY


def test_http_range_206(http_server):
    resp, body = http_get(http_server, "/fw.bin", [("Range", "bytes=1024-")])
    assert resp.status == 206
    assert parse_content_range(resp.header("content-range")) == (1024, len(BODY) - 1, len(BODY))
    assert body == BODY[1024:]
    resp, body = http_get(http_server, "/fw.bin", [("Range", "bytes=%d-" % (len(BODY) + 5))])
    assert resp.status == 416
    assert parse_content_range(resp.header("content-range")) == (None, None, len(BODY))


# ---- Phoenix over the WebSocket core ------------------------------------------------


def _phoenix_handler(ws):
    joined = {}
    for text in ws:
        join_ref, ref, topic, event, payload = json.loads(text)
        if topic == "phoenix" and event == "heartbeat":
            ws.send(json.dumps([None, ref, "phoenix", "phx_reply",
                                {"status": "ok", "response": {}}]))
        elif event == "phx_join":
            joined[topic] = join_ref
            ws.send(json.dumps([join_ref, ref, topic, "phx_reply",
                                {"status": "ok", "response": {}}]))
            ws.send(json.dumps([None, None, topic, "identify", {}]))
        elif event == "ask":
            ws.send(json.dumps([joined.get(topic), ref, topic, "phx_reply",
                                {"status": "ok", "response": {"echo": payload}}]))


@pytest.fixture(scope="module")
def phoenix_server():
    server = serve(_phoenix_handler, "127.0.0.1", 0, compression=None)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.socket.getsockname()[1]
    server.shutdown()
    t.join(5)


def test_phoenix_join_push_reply_heartbeat(phoenix_server):
    c = WSConn(phoenix_server, socket_path("/socket/websocket"))
    now = 0
    ch = Channels(now, heartbeat_ms=30000)
    try:
        assert isinstance(c.next(), Accepted)
        ch.join("device", {"nerves_fw_uuid": "u1"})
        got = []

        def pump(n):
            while len(got) < n:
                for frame in ch.outgoing():
                    c.send(Message(frame))
                ev = c.next()
                assert isinstance(ev, TextMessage), ev
                ch.receive_text(ev.data)
                while True:
                    pev = ch.next_event()
                    if pev is NEED_DATA:
                        break
                    got.append(pev)

        pump(2)
        assert got == [Joined(topic="device", response={}),
                       Push(topic="device", event="identify", payload={})]
        ref = ch.push("device", "ask", {"n": 1})
        pump(3)
        assert got[2] == Reply(topic="device", ref=ref, status="ok",
                               response={"echo": {"n": 1}})
        for frame in ch.tick(30000):
            c.send(Message(frame))
        ev = c.next()
        ch.receive_text(ev.data)
        assert ch.next_event() is NEED_DATA  # heartbeat ack consumed silently
        assert ch.tick(60000) and ch.state == "OPEN"  # previous heartbeat was answered
    finally:
        c.close()
