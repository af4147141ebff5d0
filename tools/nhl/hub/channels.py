"""Server side of Phoenix V2 JSON channels for one device websocket.

Frames are ``[join_ref, ref, topic, event, payload]``. Topics: ``device``, ``console``
(relayed by ``console.py``), ``extensions`` (``extensions.py``). Replies follow Phoenix:
heartbeats and joins get ``phx_reply``; ordinary device pushes get none; a push to a topic
that is not joined gets ``{"status":"error","response":{"reason":"unmatched topic"}}``.
"""

import json
import time

TOPICS = ("device", "console", "extensions")


def frame(join_ref, ref, topic, event, payload):
    return json.dumps([join_ref, ref, topic, event, payload], separators=(",", ":"))


def reply(join_ref, ref, topic, status, response):
    return frame(join_ref, ref, topic, "phx_reply", {"status": status, "response": response})


class Connection:
    """One accepted device websocket. ``send`` is an async callable taking a text frame."""

    def __init__(self, hub, record, send, close, peer=None):
        self.hub = hub
        self.record = record
        self._send = send
        self._close = close
        self.peer = peer
        self.join_refs = {}           # topic -> join_ref
        self.closed = False

    async def send_text(self, text):
        if not self.closed:
            await self._send(text)

    async def push(self, topic, event, payload):
        """A server push (``ref`` null) on a joined topic; fastlane form when not joined."""
        await self.send_text(frame(self.join_refs.get(topic), None, topic, event, payload))

    async def close(self, code=1000, message=b""):
        if not self.closed:
            await self._close(code, message)

    def _record(self, entry):
        entry["at"] = time.time()
        self.record.messages.append(entry)
        self.record.last_seen = entry["at"]

    async def on_binary(self, data):
        self._record({"kind": "binary", "size": len(data)})
        await self.hub.state.notify()

    async def on_text(self, text):
        """Handle one text frame from the device."""
        try:
            msg = json.loads(text)
        except ValueError:
            self._record({"kind": "invalid", "raw": text[:200]})
            await self.hub.state.notify()
            return
        if not isinstance(msg, list) or len(msg) != 5:
            self._record({"kind": "invalid", "raw": text[:200]})
            await self.hub.state.notify()
            return
        join_ref, ref, topic, event, payload = msg
        self._record({"kind": "frame", "join_ref": join_ref, "ref": ref, "topic": topic,
                      "event": event, "payload": payload})
        try:
            await self._dispatch(join_ref, ref, topic, event, payload)
        finally:
            await self.hub.state.notify()

    async def _dispatch(self, join_ref, ref, topic, event, payload):
        rec = self.record
        if topic == "phoenix" and event == "heartbeat":
            rec.heartbeats += 1
            if self.hub.hooks.get("drop_heartbeat_replies"):
                return
            await self.send_text(reply(None, ref, "phoenix", "ok", {}))
            return
        if event == "phx_join":
            await self._join(join_ref, ref, topic, payload)
            return
        if event == "phx_leave":
            self.join_refs.pop(topic, None)
            rec.joined.discard(topic)
            await self.send_text(reply(join_ref, ref, topic, "ok", {}))
            await self.send_text(frame(join_ref, join_ref, topic, "phx_close", {}))
            return
        if topic not in self.join_refs:
            await self.send_text(reply(join_ref, ref, topic, "error", {"reason": "unmatched topic"}))
            return
        if topic == "device":
            self._device_event(event, payload)
        elif topic == "console":
            await self.hub.console.on_push(rec, event, payload)
        elif topic == "extensions":
            await self.hub.extensions.on_push(self, join_ref, ref, event, payload)

    async def _join(self, join_ref, ref, topic, payload):
        rec = self.record
        if topic not in TOPICS:
            await self.send_text(reply(join_ref, ref, topic, "error", {"reason": "unmatched topic"}))
            return
        refuse = self.hub.hooks.get("refuse_join")
        if refuse and topic in refuse:
            await self.send_text(reply(join_ref, ref, topic, "error", {"error": "could not connect"}))
            return
        if not isinstance(payload, dict):
            await self.send_text(reply(join_ref, ref, topic, "error", {"reason": "bad params"}))
            return
        self.join_refs[topic] = join_ref
        rec.joined.add(topic)
        rec.join_params[topic] = payload
        await self.send_text(reply(join_ref, ref, topic, "ok",
                                   self.hub.extensions.join_reply(rec, payload)
                                   if topic == "extensions" else {}))
        if topic == "device":
            await self.hub.after_device_join(self, payload)
        elif topic == "console":
            self.hub.console.connection_changed(rec.identifier, True)

    def _device_event(self, event, payload):
        rec = self.record
        if not isinstance(payload, dict):
            return
        if event in ("fwup_progress", "update_progress"):
            rec.progress = payload.get("value")
            rec.stage = payload.get("stage", "updating")
            if "stage" not in payload:
                rec.status = "completed" if rec.progress == 100 else "updating"
        elif event == "status_update":
            rec.status = payload.get("status")
            if rec.status in ("completed", "failed", "ignored", "rescheduled"):
                rec.pending_update = None
        elif event == "rebooting":
            rec.status = "rebooting"
