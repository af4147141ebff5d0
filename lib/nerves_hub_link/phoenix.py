"""Sans-I/O Phoenix channels client, V2 JSON serializer (``vsn=2.0.0``).

One ``Channels`` object lives for one WebSocket connection (refs restart at "1").
Feed each received text frame to ``receive_text`` and pull events with
``next_event``; send the text frames returned by ``outgoing()`` (after ``join``,
``push``, ``leave``) and by ``tick(now_ms)`` (heartbeats, rejoins; it also drains
``outgoing()``). Wire format: ``[join_ref, ref, topic, event, payload]``.

Events: ``Joined``, ``JoinRefused``, ``Reply``, ``Push``, ``ChannelClosed``,
``HeartbeatTimeout`` and ``Ignored``. Malformed or unexpected input never raises:
it becomes ``Ignored(reason, raw)`` (raw = first 64 bytes) so the link stays up.
Calling an operation in a state that does not allow it raises
``ProtocolError(remote=False)``.

Topic transition table (all changes happen in ``_topic_to``)::

    state     input                              next      event
    -         join()                             JOINING   phx_join queued
    JOINING   phx_reply ok                       JOINED    Joined (buffered pushes sent)
    JOINING   phx_reply error                    ERRORED   JoinRefused; rejoin after rejoin_ms
    JOINING/  phx_error (current join_ref)       ERRORED   ChannelClosed(reason="error",
     JOINED                                                 rejoin=True)
    JOINING/  phx_close (current join_ref)       -         ChannelClosed(reason="closed",
     JOINED                                                 rejoin=False)  (spec 1.4.2, 14)
    ERRORED   tick() at rejoin time              JOINING   phx_join with a new join_ref
    JOINING/  leave()                            LEAVING   phx_leave queued
     JOINED
    ERRORED   leave()                            -         ChannelClosed(reason="left")
    LEAVING   phx_reply / phx_close              -         ChannelClosed(reason="left")

Connection: a heartbeat ``[null, ref, "phoenix", "heartbeat", {}]`` every
``heartbeat_ms``; if the previous one is still unanswered when the next is due,
``HeartbeatTimeout`` is emitted and the object becomes DEAD (drop the socket).

Largest buffers: ``MAX_EVENTS`` queued events, ``MAX_PENDING`` refs awaiting a
reply, ``MAX_BUFFERED_PUSHES`` per topic held until it is joined; one decoded frame.
"""

import json

from nerves_hub_link.errors import ProtocolError
from nerves_hub_link.http import NEED_DATA, _Event

__all__ = ["NEED_DATA"]

VSN = "2.0.0"
CERT_PATH = "/socket/websocket"
SHARED_SECRET_PATH = "/device-socket/websocket"
HEARTBEAT_MS = 30000  # spec 1.5
REJOIN_MS = 5000  # spec 1.6
MAX_PENDING = 64  # refs awaiting phx_reply (the server never answers most pushes)
MAX_BUFFERED_PUSHES = 16  # per topic, while it is (re)joining
MAX_EVENTS = 256  # undrained events; the oldest is dropped beyond
RAW_KEEP = 64  # bytes of a bad frame kept in Ignored.raw

OPEN = "OPEN"
DEAD = "DEAD"
JOINING = "JOINING"
JOINED = "JOINED"
ERRORED = "ERRORED"
LEAVING = "LEAVING"
GONE = "GONE"

_TOPIC_TRANSITIONS = {
    None: (JOINING,),
    JOINING: (JOINED, ERRORED, LEAVING, GONE),
    JOINED: (ERRORED, LEAVING, GONE),
    ERRORED: (JOINING, GONE),
    LEAVING: (GONE,),
}


# ---- events ----------------------------------------------------------------

class Joined(_Event):
    """The join of ``topic`` succeeded; ``response`` from the reply."""

    _fields = ("topic", "response")


class JoinRefused(_Event):
    """The server refused the join of ``topic``; a rejoin is scheduled."""

    _fields = ("topic", "response")


class Reply(_Event):
    """Reply to our push ``ref``: ``status`` ("ok"/"error") and ``response``."""

    _fields = ("topic", "ref", "status", "response")


class Push(_Event):
    """A message from the server on a joined topic."""

    _fields = ("topic", "event", "payload")


class ChannelClosed(_Event):
    """``topic`` closed: reason "error" (rejoin=True), "closed" or "left" (rejoin=False)."""

    _fields = ("topic", "reason", "rejoin")


class HeartbeatTimeout(_Event):
    """The heartbeat ``ref`` was not answered within one interval: drop the connection."""

    _fields = ("ref",)


class Ignored(_Event):
    """A frame that was not understood: ``reason`` and the first 64 bytes in ``raw``."""

    _fields = ("reason", "raw")


# ---- URL helpers ------------------------------------------------------------

_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def _quote(s):
    out = []
    for b in str(s).encode():
        c = chr(b)
        out.append(c if c in _SAFE else "%%%02X" % b)
    return "".join(out)


def socket_path(path=CERT_PATH, params=None):
    """Request target with the query, ``vsn=2.0.0`` added unless ``params`` has a vsn."""
    items = list(params.items()) if isinstance(params, dict) else list(params or ())
    if not any(k == "vsn" for k, _ in items):
        items.append(("vsn", VSN))
    return path + "?" + "&".join("%s=%s" % (_quote(k), _quote(v)) for k, v in items)


def socket_url(host, port=443, path=CERT_PATH, params=None, scheme="wss"):
    """Full socket URL, e.g. ``wss://hub:443/socket/websocket?vsn=2.0.0``."""
    return "%s://%s:%d%s" % (scheme, host, port, socket_path(path, params))


# ---- the client -------------------------------------------------------------

class _Topic:
    def __init__(self, name, payload):
        self.name = name
        self.payload = payload
        self.state = None
        self.join_ref = None
        self.rejoin_at = None
        self.buffered = []  # (ref, event, payload) while not joined
        self.dropped = 0


class Channels:
    """Phoenix channel multiplexer for one connection (see the module docstring)."""

    def __init__(self, now_ms, heartbeat_ms=HEARTBEAT_MS, rejoin_ms=REJOIN_MS):
        self.state = OPEN
        self.heartbeat_ms = heartbeat_ms
        self.rejoin_ms = rejoin_ms
        self.now = now_ms
        self._ref = 0
        self._topics = {}
        self._pending = {}  # ref -> (topic, kind)
        self._pending_order = []
        self._out = []
        self._events = []
        self.dropped_events = 0
        self._hb_ref = None
        self._next_hb = now_ms + heartbeat_ms if heartbeat_ms else None

    # -- helpers --
    def _next_ref(self):
        self._ref += 1
        return str(self._ref)

    def _encode(self, join_ref, ref, topic, event, payload):
        try:
            return json.dumps([join_ref, ref, topic, event, payload], separators=(",", ":"))
        except (TypeError, ValueError) as e:
            raise ProtocolError("payload for %s %s is not JSON: %s" % (topic, event, e),
                                remote=False)

    def _send(self, join_ref, ref, topic, event, payload):
        self._out.append(self._encode(join_ref, ref, topic, event, payload))

    def _track(self, ref, topic, kind):
        self._pending[ref] = (topic, kind)
        self._pending_order.append(ref)
        while len(self._pending_order) > MAX_PENDING:
            self._pending.pop(self._pending_order.pop(0), None)

    def _untrack(self, ref):
        entry = self._pending.pop(ref, None)
        if entry is not None:
            self._pending_order.remove(ref)
        return entry

    def _emit(self, ev):
        self._events.append(ev)
        if len(self._events) > MAX_EVENTS:
            self._events.pop(0)
            self.dropped_events += 1

    def _topic_to(self, t, new):
        if new not in _TOPIC_TRANSITIONS[t.state]:
            raise ProtocolError("topic %r: illegal transition %s -> %s" % (t.name, t.state, new),
                                remote=False)
        t.state = new
        if new == GONE:
            self._topics.pop(t.name, None)
            for ref in [r for r, e in self._pending.items() if e[0] == t.name]:
                self._untrack(ref)

    def _alive(self, what):
        if self.state == DEAD:
            raise ProtocolError("%s after the heartbeat timed out" % what, remote=False)

    def _send_join(self, t):
        ref = self._next_ref()
        t.join_ref = ref
        t.rejoin_at = None
        self._topic_to(t, JOINING)
        self._track(ref, t.name, "join")
        self._send(ref, ref, t.name, "phx_join", t.payload)
        return ref

    def _errored(self, t):
        self._topic_to(t, ERRORED)
        t.rejoin_at = self.now + self.rejoin_ms
        for ref in [r for r, e in self._pending.items() if e[0] == t.name]:
            self._untrack(ref)

    # -- operations --
    def join(self, topic, payload):
        """Queue a ``phx_join`` for ``topic`` (payload kept for rejoins); returns its ref."""
        self._alive("join()")
        if topic in self._topics:
            raise ProtocolError("join(%r): topic is already %s" % (topic, self._topics[topic].state),
                                remote=False)
        if not isinstance(payload, dict):
            raise ProtocolError("join payload must be a dict, got %r" % (payload,), remote=False)
        t = _Topic(topic, payload)
        self._topics[topic] = t
        return self._send_join(t)

    def update_join_payload(self, topic, payload):
        """Payload to use for the next (re)join of ``topic``."""
        if topic not in self._topics:
            raise ProtocolError("update_join_payload(%r): not joined" % topic, remote=False)
        self._topics[topic].payload = payload

    def topic_state(self, topic):
        """JOINING, JOINED, ERRORED, LEAVING, or None when unknown."""
        t = self._topics.get(topic)
        return t.state if t else None

    def leave(self, topic):
        """Queue a ``phx_leave``; returns its ref (None if the topic was waiting to rejoin)."""
        self._alive("leave()")
        t = self._topics.get(topic)
        if t is None or t.state == LEAVING:
            raise ProtocolError("leave(%r): topic is not joined" % topic, remote=False)
        if t.state == ERRORED:
            self._topic_to(t, GONE)
            self._emit(ChannelClosed(topic=topic, reason="left", rejoin=False))
            return None
        ref = self._next_ref()
        self._topic_to(t, LEAVING)
        self._track(ref, topic, "leave")
        self._send(t.join_ref, ref, topic, "phx_leave", {})
        return ref

    def push(self, topic, event, payload):
        """Queue a push (held until joined if the topic is (re)joining); returns its ref."""
        self._alive("push()")
        t = self._topics.get(topic)
        if t is None or t.state == LEAVING:
            raise ProtocolError("push(%r, %r): topic is not joined" % (topic, event),
                                remote=False)
        if not isinstance(payload, dict):
            raise ProtocolError("push payload must be a dict, got %r" % (payload,), remote=False)
        ref = self._next_ref()
        if t.state == JOINED:
            frame = self._encode(t.join_ref, ref, topic, event, payload)
            self._track(ref, topic, "push")
            self._out.append(frame)
        else:
            self._encode(None, ref, topic, event, payload)  # fail now, not at flush
            t.buffered.append((ref, event, payload))
            if len(t.buffered) > MAX_BUFFERED_PUSHES:
                t.buffered.pop(0)
                t.dropped += 1
        return ref

    def outgoing(self):
        """Text frames queued by join/push/leave/replies; empties the queue."""
        out, self._out = self._out, []
        return out

    def next_timer_ms(self):
        """Time at which ``tick`` next has work (heartbeat or rejoin), or None."""
        times = [t.rejoin_at for t in self._topics.values() if t.rejoin_at is not None]
        if self._next_hb is not None and self.state == OPEN:
            times.append(self._next_hb)
        return min(times) if times else None

    def tick(self, now_ms):
        """Run timers at ``now_ms``; returns every frame to send (drains ``outgoing()``)."""
        self.now = now_ms
        if self.state == DEAD:
            return []
        if self._next_hb is not None and now_ms >= self._next_hb:
            if self._hb_ref is not None:
                self.state = DEAD
                self._out = []
                self._emit(HeartbeatTimeout(ref=self._hb_ref))
                return []
            self._hb_ref = self._next_ref()
            self._send(None, self._hb_ref, "phoenix", "heartbeat", {})
            self._next_hb = now_ms + self.heartbeat_ms
        for t in list(self._topics.values()):
            if t.state == ERRORED and t.rejoin_at is not None and now_ms >= t.rejoin_at:
                self._send_join(t)
        return self.outgoing()

    # -- input --
    def receive_text(self, data, now_ms=None):
        """Handle one received text frame (str or UTF-8 bytes)."""
        if now_ms is not None:
            self.now = now_ms
        if self.state == DEAD:
            return
        raw = data  # cut to RAW_KEEP bytes only if the frame is ignored
        try:
            msg = json.loads(data)
        except Exception as e:  # bad JSON, too deep, bad UTF-8: never kill the link
            self._ignore("bad JSON (%s)" % (type(e).__name__,), raw)
            return
        if not isinstance(msg, list) or len(msg) != 5:
            self._ignore("not a 5-element array", raw)
            return
        join_ref, ref, topic, event, payload = msg
        join_ref = _ref_str(join_ref)
        ref = _ref_str(ref)
        if join_ref is False or ref is False:
            self._ignore("bad ref", raw)
        elif not isinstance(topic, str) or not isinstance(event, str):
            self._ignore("topic and event must be strings", raw)
        elif not isinstance(payload, dict):
            self._ignore("payload is not an object", raw)
        elif event == "phx_reply":
            self._reply(ref, topic, payload, raw)
        elif topic == "phoenix":
            self._ignore("unknown event %r on topic phoenix" % event, raw)
        else:
            self._message(join_ref, topic, event, payload, raw)

    def receive_binary(self, data):
        """A binary frame: NervesHub never sends one in JSON mode, so it is ignored."""
        self._ignore("binary frame in JSON mode", bytes(data))

    def _ignore(self, reason, raw):
        if isinstance(raw, str):
            raw = raw[:RAW_KEEP].encode()
        self._emit(Ignored(reason=reason, raw=bytes(raw[:RAW_KEEP])))

    def _reply(self, ref, topic, payload, raw):
        status = payload.get("status")
        response = payload.get("response", {})
        if not isinstance(status, str):
            self._ignore("phx_reply without a status", raw)
            return
        if topic == "phoenix" and ref is not None and ref == self._hb_ref:
            self._hb_ref = None
            return
        entry = self._pending.get(ref) if ref is not None else None
        if entry is None:
            self._ignore("reply to unknown ref %r" % (ref,), raw)
            return
        if entry[0] != topic:
            self._ignore("reply for ref %r on %r, expected %r" % (ref, topic, entry[0]), raw)
            return
        self._untrack(ref)
        t = self._topics.get(topic)
        kind = entry[1]
        if kind == "join":
            if t is None or t.join_ref != ref or t.state != JOINING:
                self._ignore("stale join reply", raw)
            elif status == "ok":
                self._topic_to(t, JOINED)
                self._emit(Joined(topic=topic, response=response))
                self._flush(t)
            else:
                self._errored(t)
                self._emit(JoinRefused(topic=topic, response=response))
        elif kind == "leave":
            if t is not None:
                self._topic_to(t, GONE)
            self._emit(ChannelClosed(topic=topic, reason="left", rejoin=False))
        else:
            self._emit(Reply(topic=topic, ref=ref, status=status, response=response))

    def _flush(self, t):
        for ref, event, payload in t.buffered:
            self._track(ref, t.name, "push")
            self._send(t.join_ref, ref, t.name, event, payload)
        t.buffered = []

    def _message(self, join_ref, topic, event, payload, raw):
        t = self._topics.get(topic)
        if t is None:
            self._ignore("message for unknown topic %r" % topic, raw)
            return
        if join_ref is not None and join_ref != t.join_ref:
            self._ignore("stale join_ref %r (current %r)" % (join_ref, t.join_ref), raw)
            return
        if event == "phx_error":
            if join_ref is None or t.state not in (JOINING, JOINED):
                self._ignore("phx_error without the current join_ref", raw)
                return
            self._errored(t)
            self._emit(ChannelClosed(topic=topic, reason="error", rejoin=True))
        elif event == "phx_close":
            reason = "left" if t.state == LEAVING else "closed"
            self._topic_to(t, GONE)
            self._emit(ChannelClosed(topic=topic, reason=reason, rejoin=False))
        elif event.startswith("phx_"):
            self._ignore("unknown event %r" % event, raw)
        elif t.state not in (JOINED, JOINING):
            self._ignore("message for topic %r in state %s" % (topic, t.state), raw)
        else:
            self._emit(Push(topic=topic, event=event, payload=payload))

    def next_event(self):
        """Next event, or ``NEED_DATA``."""
        if self._events:
            return self._events.pop(0)
        return NEED_DATA


def _ref_str(r):
    """Refs are strings or null; integer refs become strings; anything else is False."""
    if r is None or isinstance(r, str):
        return r
    if isinstance(r, int) and not isinstance(r, bool):
        return str(r)
    return False
