"""The link runtime: asyncio tasks that move bytes between the HAL and the protocol cores.

One file for CPython asyncio and MicroPython asyncio (their common subset only).

``Link(config, hal, client)``; ``await link.run()`` connects and keeps reconnecting until
``stop()``. Per connection: open the stream through ``hal.open_connection`` (TLS from
``hal.tls_context``), WebSocket upgrade (NH1 headers signed just before connecting when a
shared secret is configured), join ``device`` (and ``console`` if enabled), then three
tasks: reader (socket -> WSClient -> Channels -> dispatch), ticker (heartbeats, rejoins,
liveness judged by the last received byte; it sleeps until the next of these is due) and
writer (the only task that writes after the upgrade). ``mark_down(reason)`` is the one
recovery path: safe to call twice, it cancels the connection's tasks and closes the stream;
``run`` then waits the next backoff delay (``client.reconnect_backoff()`` or
``backoff.delay_list(1000, 60000, 0.5)``) and reconnects. Connect, upgrade and every write
have their own deadline; the reader's ``read`` has none of its own: the ticker ends it
(``mark_down`` cancels it) when no byte came for two heartbeat intervals plus 1 s. With
``heartbeat_interval_ms`` 0 there is no liveness check, so a silent peer is only noticed
through TCP.

Server messages are dispatched by ``(topic, event)``: ``link.on(topic, event, handler)``
registers ``handler(event, payload)`` (may return a coroutine, which is run as a task);
``event="*"`` catches every event of a topic without a specific handler; ``(topic,
"joined")`` handlers are also called with the join response after each join. Built-in defaults
(used only when nobody registered the event): ``device/reboot`` (push ``rebooting``, then
``client.reboot()``), ``device/identify``, ``device/update`` and ``device/archive`` (logged),
``fwup_public_keys``/``archive_public_keys`` (replace keys; an empty list never clears),
``scripts/run`` (answered "unsupported"), ``extensions:get`` (declined).

Largest buffers: one socket read (``READ_SIZE``) plus what the cores hold (WebSocket
``max_message``, Phoenix event/push queues).
"""

import asyncio

from nerves_hub_link import log
from nerves_hub_link.client import Client, SafeClient
from nerves_hub_link.errors import AuthError, NervesHubError, ProtocolError, TransportError

READ_SIZE = 2048
WRITE_TIMEOUT_MS = 10000
MIN_TICK_MS = 10  # the ticker never spins faster than this
MAX_TICK_MS = 60000  # nor sleeps longer
REBOOT_FLUSH_MS = 2000
DEFAULT_BACKOFF = (1000, 60000, 0.5)  # spec §7
OFFLINE_QUEUE = 16  # device-topic pushes kept while down (oldest dropped, counted)


def _is_coro(x):
    return x is not None and hasattr(x, "send") and hasattr(x, "throw")


async def _deadline(aw, ms, what):
    try:
        return await asyncio.wait_for(aw, ms / 1000)
    except asyncio.TimeoutError:
        raise TransportError("%s timed out after %d ms" % (what, ms))


_ERRNO = {32: "EPIPE", 104: "ECONNRESET", 110: "ETIMEDOUT", 111: "ECONNREFUSED",
          113: "EHOSTUNREACH"}


def _oserror(e):
    code = e.args[0] if e.args else None
    if isinstance(code, int):
        if code < 0:
            return "TLS error -0x%04x" % -code
        return "OSError %d %s" % (code, _ERRNO.get(code, ""))
    return "%s: %s" % (type(e).__name__, e)


def describe(e):
    """A one-line reason for an exception."""
    if isinstance(e, NervesHubError):
        return str(e)
    if isinstance(e, OSError):
        return _oserror(e)
    return "%s: %s" % (type(e).__name__, e)


class Link:
    """See the module docstring. ``hal`` provides ``open_connection``, ``tls_context``,
    ``ticks_ms``, ``unix_time``, ``rand`` and ``reboot`` (and optionally ``kv``)."""

    def __init__(self, config, hal, client=None, kv=None):
        self.config = config
        self.hal = hal
        if kv is None:
            kv = getattr(hal, "kv", None)
        if kv is None:
            from nerves_hub_link.kv import MemoryKV

            kv = MemoryKV()
        self.kv = kv
        self.user_client = client if client is not None else Client()
        attach = getattr(self.user_client, "attach", None)
        if attach:
            attach(self)
        self.client = SafeClient(self.user_client)
        self.fwup_public_keys = list(config.fwup_public_keys)
        self.archive_public_keys = list(config.archive_public_keys)
        self.currently_downloading_uuid = None
        self.console_active_flag = False
        self.state = "idle"
        self.last_error = None
        self.connections = 0
        self.attempt = 0
        self._handlers = {}
        self._defaults = {}
        self._reply_waiters = {}
        self._ws = None
        self._ch = None
        self._reader = None
        self._writer = None
        self._tasks = []
        self._down = True
        self._down_event = None
        self._out_event = asyncio.Event()
        self._wake = asyncio.Event()
        self._tick_wake = asyncio.Event()  # the reader moved a timer earlier
        self._tick_until = 0  # when the ticker next wakes by itself
        self._lock = asyncio.Lock()
        self._stop = False
        self._joined = set()
        self._last_rx = 0
        self._delays = None
        self._tls_der = None  # (ca list, cert, key) DER, read at the first connect of a run
        self._extra = []  # frames from Channels.tick waiting for the writer
        self._offline = []  # device-topic pushes made while down, sent after the next join
        self.offline_dropped = 0
        self._install_defaults()
        self._attach_features()

    # ---- public API --------------------------------------------------------------------

    def connected(self):
        """True when the ``device`` topic is joined."""
        return not self._down and "device" in self._joined

    def socket_connected(self):
        return not self._down and self._ws is not None

    def console_active(self):
        return self.console_active_flag

    def status(self):
        return {
            "state": self.state,
            "socket_connected": self.socket_connected(),
            "joined": sorted(self._joined),
            "console_active": self.console_active_flag,
            "connections": self.connections,
            "attempt": self.attempt,
            "last_error": self.last_error,
            "currently_downloading_uuid": self.currently_downloading_uuid,
        }

    def reconnect(self):
        """Drop the connection; ``run`` reconnects after the backoff delay."""
        self.mark_down("reconnect requested")
        self._wake.set()

    def stop(self):
        self._stop = True
        self.mark_down("stopped")
        self._wake.set()

    def on(self, topic, event, handler):
        """Call ``handler(event, payload)`` for server messages; returns an unsubscribe fn."""
        key = (topic, event)
        self._handlers.setdefault(key, []).append(handler)

        def off():
            lst = self._handlers.get(key)
            if lst and handler in lst:
                lst.remove(handler)

        return off

    def join(self, topic, payload):
        """Join *topic* on the live connection unless it is already (re)joining or joined;
        returns False when offline."""
        ch = self._ch
        if ch is None or self._down:
            return False
        if ch.topic_state(topic) is None:
            ch.join(topic, payload)
            self._out_event.set()
        return True

    def push(self, topic, event, payload):
        """Queue a push on a joined (or rejoining) topic; returns its ref, or None if offline.

        Offline, ``device`` pushes (status, progress) wait in a bounded queue and go out after
        the next join; other topics' pushes are dropped.
        """
        ch = self._ch
        if ch is None or self._down:
            if topic != "device":
                log.warning("push %s %s dropped: not connected", topic, event)
                return None
            if len(self._offline) >= OFFLINE_QUEUE:
                self._offline.pop(0)
                self.offline_dropped += 1
            self._offline.append((event, payload))
            log.warning("push device %s queued: not connected", event)
            return None
        try:
            ref = ch.push(topic, event, payload)
        except ProtocolError as e:
            log.warning("push %s %s dropped: %s", topic, event, e)
            return None
        self._out_event.set()
        return ref

    async def request(self, topic, event, payload, timeout_ms=10000):
        """Push and wait for the server's ``phx_reply``: returns (status, response)."""
        ref = self.push(topic, event, payload)
        if ref is None:
            raise TransportError("cannot push %s %s: not connected" % (topic, event))
        ev = asyncio.Event()
        box = []
        self._reply_waiters[ref] = (ev, box)
        try:
            await _deadline(ev.wait(), timeout_ms, "reply to %s %s" % (topic, event))
        finally:
            self._reply_waiters.pop(ref, None)
        return box[0]

    async def flush(self, timeout_ms=WRITE_TIMEOUT_MS):
        """Write every queued frame now."""
        await _deadline(self._send_pending(), timeout_ms, "flush")

    def send_update_progress(self, percent, stage=None):
        payload = {"value": int(percent)}
        if stage:
            payload["stage"] = stage
        log.state("progress", "%s%d%%" % (stage + " " if stage else "", int(percent)))
        return self.push("device", "fwup_progress", payload)

    def send_update_status(self, status, **fields):
        payload = {"status": status}
        for k in fields:
            payload[k] = fields[k]
        log.state("update status", status)
        return self.push("device", "status_update", payload)

    def hal_reboot(self):
        log.state("rebooting")
        self.hal.reboot()

    # ---- main loop ---------------------------------------------------------------------

    async def run(self):
        """Connect, serve, reconnect with backoff until ``stop()``."""
        if not self.config.connect:
            log.state("disabled", "connect is false")
            return
        self._tls_der = None
        while not self._stop:
            await self._session()
            if self._stop:
                break
            delay = self._next_delay()
            log.state("reconnecting", "in %d ms (attempt %d)" % (delay, self.attempt))
            self._wake = asyncio.Event()
            try:
                await asyncio.wait_for(self._wake.wait(), delay / 1000)
            except asyncio.TimeoutError:
                pass
        self.state = "stopped"
        log.state("stopped")

    def _next_delay(self):
        if self.attempt == 0 or self._delays is None:
            self._delays = self.client.reconnect_backoff() or self._default_backoff()
        d = self._delays[min(self.attempt, len(self._delays) - 1)]
        self.attempt += 1
        return d

    def _default_backoff(self):
        from nerves_hub_link import backoff

        delays = backoff.delay_list(DEFAULT_BACKOFF[0], DEFAULT_BACKOFF[1], DEFAULT_BACKOFF[2],
                                    self.hal.rand)
        return backoff.spread_first(delays, backoff.FLEET_SPREAD_MS, self.hal.rand)

    async def _session(self):
        self._down = False
        self._down_event = asyncio.Event()
        self._joined = set()
        try:
            await self._open()
        except asyncio.CancelledError:
            self.mark_down("cancelled")
            raise
        except Exception as e:  # every failure to connect becomes a reason, never a crash
            self.mark_down(describe(e))
            return
        if self._down:
            return
        self._ch = self._new_channels()
        self._join_topics()
        self._tasks = [asyncio.create_task(self._read_loop()),
                       asyncio.create_task(self._tick_loop()),
                       asyncio.create_task(self._write_loop())]
        self._out_event.set()
        self.client.connected()
        await self._down_event.wait()

    def _new_channels(self):
        from nerves_hub_link.phoenix import Channels

        return Channels(self.hal.ticks_ms(), heartbeat_ms=self.config.heartbeat_interval_ms,
                        rejoin_ms=self.config.rejoin_after_ms[0])

    def mark_down(self, reason):
        """Tear the connection down (once); returns True if it was up."""
        if self._down:
            return False
        self._down = True
        self._joined = set()
        self.last_error = reason
        self.state = "down"
        log.state("disconnected" if reason in ("stopped", "reconnect requested") else "error",
                  reason)
        current = asyncio.current_task()
        for t in self._tasks:
            if t is not current:
                t.cancel()
        self._tasks = []
        w = self._writer
        self._writer = self._reader = None
        self._ws = None
        self._ch = None
        self._extra = []
        if w is not None:
            try:
                w.close()
            except Exception as e:  # the stream may already be broken
                log.debug("close: %s", describe(e))
        for ref in self._reply_waiters:
            ev, box = self._reply_waiters[ref]
            box.append(("error", {"reason": reason}))
            ev.set()
        self.client.handle_error(reason)
        if self._down_event is not None:
            self._down_event.set()
        return True

    # ---- connect and upgrade -----------------------------------------------------------

    def _tls(self, server_name):
        """The TLS context; the CA/cert/key files are read once per ``run()`` (a flaky link
        reconnects often; restart the run to pick up new files)."""
        if self._tls_der is None:
            from nerves_hub_link.config import read_der, read_der_list

            cfg = self.config
            self._tls_der = (read_der_list(cfg.ca_certs) if cfg.ca_certs else None,
                             read_der(cfg.cert) if cfg.cert else None,
                             read_der(cfg.key) if cfg.key else None)
        ca, cert, key = self._tls_der
        return self.hal.tls_context(ca, cert, key, server_name)

    def check_tls(self):
        """Load the CA/cert/key files into a TLS context now (the command-line devices call it
        before ``run()``): one that does not load raises ConfigError naming the files, where
        ``run()`` would report it at every connect attempt and retry."""
        from nerves_hub_link.errors import ConfigError

        cfg = self.config
        if not cfg.endpoint()[0]:
            return
        try:
            self._tls(cfg.server_name())
        except ConfigError as e:
            raise ConfigError("%s (files: ca_certs %s, cert %s, key %s)"
                              % (e.message, cfg.ca_certs, cfg.cert, cfg.key),
                              hint=e.hint or "check the ca_certs, cert and key settings")
        finally:
            self._tls_der = None  # run() reads them again

    def _headers(self):
        cfg = self.config
        headers = []
        for kv in cfg.socket.get("headers") or ():
            headers.append((str(kv[0]), str(kv[1])))
        if cfg.uses_shared_secret():
            from nerves_hub_link import auth

            ss = cfg.shared_secret
            opts = {}
            for k in ("digest", "iterations", "length"):
                if k in ss:
                    opts[k] = ss[k]
            headers.extend(auth.shared_secret_headers(
                cfg.shared_secret_key(), cfg.shared_secret_value(), cfg.device_identifier(),
                self.hal.unix_time(), **opts))
        return headers

    async def _open(self):
        from nerves_hub_link import phoenix, websocket

        cfg = self.config
        tls, host, port, path = cfg.endpoint()
        target = phoenix.socket_path(path)
        url = "%s://%s:%d%s" % ("wss" if tls else "ws", host, port, target)
        self.state = "connecting"
        log.state("connecting", url)
        ctx = self._tls(cfg.server_name()) if tls else None
        headers = self._headers()
        budget = cfg.connect_timeout_ms
        start = self.hal.ticks_ms()
        reader, writer = await _deadline(self.hal.open_connection(host, port, ctx), budget,
                                         "connect to %s:%d" % (host, port))
        self._reader, self._writer = reader, writer
        if self._down:
            return
        host_hdr = host if port == (443 if tls else 80) else "%s:%d" % (host, port)
        ws = websocket.WSClient(host_hdr, target, extra_headers=headers, rand=self.hal.rand)
        try:
            await self._upgrade(ws, reader, writer, start, budget)
        except ValueError as e:
            # MicroPython's tls reports a failed certificate check as ValueError on write
            raise TransportError("TLS session failed during the upgrade: %s"
                                 % " ".join(str(e).split()),
                                 hint="check ca_certs and sni" if tls else None)
        except OSError as e:
            # ports that connect and handshake lazily (MicroPython) fail here
            code = e.args[0] if e.args else None
            if code in (110, 111, 113):
                raise TransportError("cannot connect to %s:%d: %s" % (host, port, _oserror(e)))
            raise TransportError("%s failed during the upgrade: %s"
                                 % ("TLS session" if tls else "connection", _oserror(e)),
                                 hint="the server may have refused our client certificate"
                                 if tls else None)
        self._ws = ws
        self._last_rx = self.hal.ticks_ms()
        self.connections += 1
        self.attempt = 0
        self.state = "connected"
        log.state("connected", url)

    async def _upgrade(self, ws, reader, writer, start, budget):
        from nerves_hub_link import websocket

        cfg = self.config
        writer.write(ws.handshake_request())
        await _deadline(writer.drain(), budget, "upgrade request")
        while True:
            left = budget - (self.hal.ticks_ms() - start)
            if left <= 0:
                raise TransportError("websocket upgrade timed out after %d ms" % budget)
            data = await _deadline(reader.read(READ_SIZE), left, "websocket upgrade")
            ws.receive_data(data or b"")
            ev = ws.next_event()
            if ev is websocket.NEED_DATA:
                if not data:
                    raise TransportError("server closed the connection during the upgrade")
                continue
            if isinstance(ev, websocket.Rejected):
                raise AuthError(_refusal(ev), hint=_refusal_hint(ev.status, cfg))
            if isinstance(ev, websocket.Accepted):
                return

    def _join_topics(self):
        ch = self._ch
        ch.join("device", self.device_join_payload())
        if self.config.remote_console:
            ch.join("console", self.console_join_payload())
        self.state = "joining"

    def device_join_payload(self):
        from nerves_hub_link import join

        cfg = self.config
        payload = join.device_join_payload(
            self.kv.all(), cfg.fwup_version, cfg.device_api_version, join.CONSOLE_VERSION,
            currently_downloading_uuid=self.currently_downloading_uuid,
            request_fwup_public_keys=cfg.request_fwup_public_keys or not self.fwup_public_keys,
            request_archive_public_keys=cfg.request_archive_public_keys or not (
                self.archive_public_keys or self.fwup_public_keys),
            firmware_validated_value=self.client.firmware_validated(),
            auto_revert_value=self.client.firmware_auto_revert_detected())
        for k in cfg.params:
            payload[k] = cfg.params[k]
        return payload

    def console_join_payload(self):
        from nerves_hub_link import join

        return join.console_join_payload(join.CONSOLE_VERSION, self.config.device_api_version)

    # ---- tasks -------------------------------------------------------------------------

    async def _read_loop(self):
        from nerves_hub_link import websocket

        reader = self._reader
        ws = self._ws
        try:
            while not self._down:
                data = await reader.read(READ_SIZE)
                self._last_rx = self.hal.ticks_ms()
                ws.receive_data(data or b"")
                while not self._down:
                    try:
                        ev = ws.next_event()
                    except ProtocolError as e:
                        await self._send_pending()  # the close frame the core queued
                        self.mark_down("websocket protocol error: %s" % e)
                        return
                    if ev is websocket.NEED_DATA:
                        break
                    self._on_ws_event(ev)
                self._drain_channels()
                self._out_event.set()
                ch = self._ch
                due = ch.next_timer_ms() if ch is not None else None
                if due is not None and due < self._tick_until:  # e.g. a rejoin was scheduled
                    self._tick_wake.set()
                if not data:
                    self.mark_down("connection closed by the server")
                    return
        except asyncio.CancelledError:
            raise
        except Exception as e:  # socket errors end this connection, never the link
            self.mark_down("read failed: %s" % describe(e))

    def _on_ws_event(self, ev):
        from nerves_hub_link import websocket

        if isinstance(ev, websocket.TextMessage):
            self._ch.receive_text(ev.data, self.hal.ticks_ms())
            self._drain_channels()
        elif isinstance(ev, websocket.BytesMessage):
            self._ch.receive_binary(ev.data)
            self._drain_channels()
        elif isinstance(ev, websocket.CloseConnection):
            self.mark_down("server closed the websocket (code %s%s)"
                           % (ev.code, ": " + ev.reason if ev.reason else ""))

    async def _tick_loop(self):
        hb = self.config.heartbeat_interval_ms
        liveness = 2 * hb + 1000 if hb else 0
        try:
            while not self._down:
                await self._tick_sleep(liveness)
                now = self.hal.ticks_ms()
                if liveness and now - self._last_rx > liveness:
                    self.mark_down("no data from the server for %d ms" % (now - self._last_rx))
                    return
                ch = self._ch
                if ch is None:
                    return
                self._extra.extend(ch.tick(now))
                self._drain_channels()
                self._out_event.set()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.mark_down("timer failed: %s" % describe(e))

    async def _tick_sleep(self, liveness):
        """Sleep until the channels' next timer or the liveness deadline (bounded), or until
        the reader moves a timer earlier."""
        now = self.hal.ticks_ms()
        until = now + MAX_TICK_MS
        ch = self._ch
        due = ch.next_timer_ms() if ch is not None else None
        if due is not None and due < until:
            until = due
        if liveness and self._last_rx + liveness + 1 < until:
            until = self._last_rx + liveness + 1
        if until < now + MIN_TICK_MS:
            until = now + MIN_TICK_MS
        self._tick_until = until
        self._tick_wake.clear()
        try:
            await asyncio.wait_for(self._tick_wake.wait(), (until - now) / 1000)
        except asyncio.TimeoutError:
            pass

    async def _write_loop(self):
        try:
            while not self._down:
                await self._out_event.wait()
                self._out_event.clear()
                await self._send_pending()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.mark_down("write failed: %s" % describe(e))

    async def _send_pending(self):
        from nerves_hub_link.websocket import Message

        async with self._lock:
            ws, ch, w = self._ws, self._ch, self._writer
            if ws is None or w is None:
                return
            frames, self._extra = self._extra, []
            if ch is not None:
                frames.extend(ch.outgoing())
            out = ws.pending_output()
            if out:
                w.write(out)
            for text in frames:
                try:
                    w.write(ws.send(Message(text)))
                except ProtocolError as e:  # the socket is closing; nothing more to send
                    log.debug("not sent: %s", e)
                    break
            if out or frames:
                await _deadline(w.drain(), WRITE_TIMEOUT_MS, "write")

    # ---- dispatch ----------------------------------------------------------------------

    def _drain_channels(self):
        from nerves_hub_link import phoenix

        while self._ch is not None:
            ev = self._ch.next_event()
            if ev is phoenix.NEED_DATA:
                return
            try:
                self._on_channel_event(ev)
            except Exception as e:  # a handler bug must not end the connection
                log.exception("dispatch of %r" % (ev,), e)

    def _on_channel_event(self, ev):
        from nerves_hub_link import phoenix

        if isinstance(ev, phoenix.Push):
            self._dispatch(ev.topic, ev.event, ev.payload)
        elif isinstance(ev, phoenix.Joined):
            self._joined.add(ev.topic)
            if ev.topic == "device":
                self.state = "joined"
            log.state("joined", ev.topic)
            if ev.topic == "device":
                queued, self._offline = self._offline, []
                for event, payload in queued:
                    self.push("device", event, payload)
            self._notify(ev.topic, "joined", ev.response)
        elif isinstance(ev, phoenix.JoinRefused):
            self._joined.discard(ev.topic)
            reason = "join of %s refused: %r" % (ev.topic, ev.response)
            log.state("error", reason)
            if ev.topic == "device":
                self.client.handle_error(reason)
        elif isinstance(ev, phoenix.ChannelClosed):
            self._joined.discard(ev.topic)
            reason = "channel %s closed (%s)" % (ev.topic, ev.reason)
            log.state("error" if ev.rejoin else "left", reason)
            if ev.topic == "device":
                self.client.handle_error(reason)
        elif isinstance(ev, phoenix.Reply):
            waiter = self._reply_waiters.get(ev.ref)
            if waiter:
                waiter[1].append((ev.status, ev.response))
                waiter[0].set()
            elif self._handlers.get((ev.topic, "phx_reply")):
                self._dispatch(ev.topic, "phx_reply", {"ref": ev.ref, "status": ev.status,
                                                       "response": ev.response})
            elif ev.status != "ok":
                log.warning("server answered %s push %s with %s: %r", ev.topic, ev.ref,
                            ev.status, ev.response)
        elif isinstance(ev, phoenix.HeartbeatTimeout):
            self.mark_down("heartbeat timeout")
        elif isinstance(ev, phoenix.Ignored):
            log.warning("ignored server message (%s): %r", ev.reason, ev.raw)

    def _dispatch(self, topic, event, payload):
        handlers = self._handlers.get((topic, event))
        if not handlers:
            d = self._defaults.get((topic, event))
            handlers = [d] if d else self._handlers.get((topic, "*"))
        if not handlers:
            log.warning("unknown message %s/%s ignored", topic, event)
            return
        for h in list(handlers):
            try:
                r = h(event, payload)
            except Exception as e:  # user code must not take the link down
                log.exception("handler for %s/%s" % (topic, event), e)
                continue
            if _is_coro(r):
                asyncio.create_task(self._guard(r, topic, event))

    def _notify(self, topic, event, payload):
        """Local events (``joined``): only explicitly registered handlers are called."""
        if self._handlers.get((topic, event)):
            self._dispatch(topic, event, payload)

    async def _guard(self, coro, topic, event):
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("handler for %s/%s" % (topic, event), e)

    def _install_defaults(self):
        d = self._defaults
        d[("device", "reboot")] = self._on_reboot
        d[("device", "identify")] = self._on_identify
        d[("device", "update")] = self._on_update
        d[("device", "archive")] = self._on_archive
        d[("device", "fwup_public_keys")] = self._on_keys
        d[("device", "archive_public_keys")] = self._on_keys
        d[("device", "scripts/run")] = self._on_script
        d[("device", "extensions:get")] = self._on_extensions

    def _on_reboot(self, event, payload):
        return self._reboot()

    async def _reboot(self):
        self.push("device", "rebooting", {})
        try:
            await self.flush(REBOOT_FLUSH_MS)
        except NervesHubError as e:
            log.warning("rebooting notice not sent: %s", e)
        log.state("reboot requested", "by the server")
        self.client.reboot()

    def _on_identify(self, event, payload):
        self.client.identify()

    def _on_update(self, event, payload):
        meta = payload.get("firmware_meta") if isinstance(payload, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        log.state("update received", "%s %s (no update manager attached)"
                  % (meta.get("uuid"), meta.get("version")))

    def _on_archive(self, event, payload):
        log.state("archive received", "%s (no archive manager attached)" % payload.get("url"))

    def _on_keys(self, event, payload):
        keys = payload.get("keys")
        if not isinstance(keys, list):
            log.warning("%s without a key list ignored", event)
            return
        good = [k for k in keys if isinstance(k, str) and k]
        if not good:
            log.warning("%s with no usable key ignored (keys are never cleared)", event)
            return
        if event == "fwup_public_keys":
            self.fwup_public_keys = good
        else:
            self.archive_public_keys = good
        log.info("%s: %d keys from the server", event, len(good))

    def _on_script(self, event, payload):
        self.push("device", "scripts/run", {
            "ref": payload.get("ref"), "result": "error", "reason": "unsupported",
            "output": "Error running script: this device cannot run Elixir scripts",
            "return": ""})

    def _on_extensions(self, event, payload):
        self.join("extensions", {})

    def _attach_features(self):
        """The console topic when ``remote_console`` is set; extensions (health, geo) when
        ``device_api_version`` >= 2.2.0 (else ``extensions:get`` is declined)."""
        cfg = self.config
        if getattr(cfg, "remote_console", False):
            from nerves_hub_link import console

            console.attach(self)
        from nerves_hub_link.extensions import attach, supported

        if supported(getattr(cfg, "device_api_version", "")):
            attach(self)


def _refusal(ev):
    reason = ev.header("nh-connection-error-reason")
    if not reason:
        body = ev.body[:200]
        try:
            reason = body.decode().strip()
        except UnicodeError:
            reason = repr(body)
    return "server refused the connection: HTTP %d%s" % (ev.status,
                                                         ": " + reason if reason else "")


def _refusal_hint(status, cfg):
    if status in (401, 403):
        if cfg.uses_shared_secret():
            return "check shared_secret key/secret/identifier and the device clock"
        return "check that the device certificate is registered with the server"
    return None


def make_device(config, hal, client=None, env_kv=None):
    """A ready ``Link`` for a device: runs the configurator hook and validates the config,
    opens ``block_device`` through the HAL, puts the firmware KV in its U-Boot environment
    when ``uboot_env`` is set (``env_kv(dev, offset, count[, redundant])`` comes from the
    port), else uses ``hal.kv``, and attaches the update and archive managers (download
    retries from the config's ``download``)."""
    from nerves_hub_link import update_manager
    from nerves_hub_link.config import build
    from nerves_hub_link.errors import ConfigError

    config = build(config)
    dev = None
    if config.block_device:
        dev = hal.block_device(config.block_device, config.block_device_size)
    kv = None
    if config.uboot_env:
        if dev is None:
            raise ConfigError("uboot_env is set but block_device is not")
        if env_kv is None:
            raise ConfigError("this port cannot keep the KV in a U-Boot environment",
                              hint="remove uboot_env to use kv.json in data_path")
        kv = env_kv(dev, *config.uboot_env)
    link = Link(config, hal, client, kv=kv)
    update_manager.attach(link, hal, dev=dev, retry=config.download_retry())
    return link


async def run_device(config, hal, client=None, env_kv=None):
    """``make_device`` then run the link until it stops; returns the Link."""
    link = make_device(config, hal, client, env_kv)
    await link.run()
    return link
