"""The ``extensions`` topic (spec 3.3, 4.4): health reports and a geo-location hook.

Servers that see ``device_api_version`` >= 2.2.0 push ``extensions:get`` on ``device``; the
device then joins ``extensions`` with ``{name: version}`` of what it offers and the join
reply lists the names to attach. Attaching pushes ``{name}:attached`` (an unknown name gets
``{name}:error {"reason": "unknown_extension"}``, a failing start ``"start_failure"``);
``attach``/``detach`` ``{"extensions": [names] | name | "all"}`` come from operators; a
``phx_reply`` ``{"status": "error", "response": "detach"}`` to an ``:attached`` push
detaches that extension. A detached extension neither answers nor pushes.

``health``: ``health:check`` -> ``health:report {"value": report}`` with ``timestamp``
(ISO-8601 UTC from the HAL clock), ``metadata``, ``alarms``, ``metrics`` (gc memory,
uptime, CPU temperature when the HAL has ``cpu_temperature()``, link counters, extra
``metrics()`` callables), ``checks`` (firmware validity, connection) and ``connectivity``
(``hal.connectivity()`` when present).
``geo``: ``geo:location:request`` -> ``geo:location:update`` from ``resolver()`` (a dict
with ``latitude``/``longitude`` [``accuracy``, ``source``], may be a coroutine); without
a resolver (the default) it answers ``{"error_code": "no_source", ...}``.

``Extensions`` is the logic without I/O (``push(event, payload)`` returns a ref);
``attach(link, ...)`` wires it into a Link (the Link does this for 2.2.0+).

Largest buffers: one report dict.
"""

from nerves_hub_link import log

VERSION = "0.0.1"
MIN_API = "2.2.0"
DETACH = "detach"


def version_at_least(version, minimum):
    """Dotted versions compared numerically ("2.10.0" >= "2.2.0"); junk counts as 0."""
    def parts(v):
        out = []
        for p in str(v).split("."):
            n = ""
            for c in p:
                if not "0" <= c <= "9":
                    break
                n += c
            out.append(int(n) if n else 0)
        while len(out) < 3:
            out.append(0)
        return out

    return parts(version) >= parts(minimum)


def supported(device_api_version):
    """True when the announced API version makes servers push ``extensions:get``."""
    return version_at_least(device_api_version, MIN_API)


def iso8601(unix_s):
    """``YYYY-MM-DDTHH:MM:SSZ`` for integer Unix seconds (no time.gmtime: boards differ)."""
    unix_s = int(unix_s)
    days, rem = divmod(unix_s, 86400)
    # civil-from-days (proleptic Gregorian), days since 1970-01-01
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, rem // 3600, rem // 60 % 60, rem % 60)


def _names(value, all_names):
    if value == "all":
        return list(all_names)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [n for n in value if isinstance(n, str)]
    return []


class Health:
    """The ``health`` extension. ``link`` gives the HAL, KV, client and counters."""

    name = "health"

    def __init__(self, link=None, metrics=(), metadata=None):
        self.link = link
        self.extra_metrics = list(metrics)
        self.metadata = dict(metadata or {})
        self.started_ms = link.hal.ticks_ms() if link is not None else 0

    def handle(self, event, payload, push):
        if event == "check":
            push("report", {"value": self.report()})
            return True
        return False

    def report(self):
        """The ``health:report`` value (timestamp, metadata, alarms, metrics, checks)."""
        link = self.link
        hal = link.hal if link is not None else None
        metrics = _memory()
        if hal is not None:
            metrics["uptime_s"] = (hal.ticks_ms() - self.started_ms) // 1000
            temp = _call(hal, "cpu_temperature")
            if isinstance(temp, (int, float)):
                metrics["cpu_temp"] = temp
        checks = {}
        metadata = dict(self.metadata)
        alarms = {}
        if link is not None:
            metrics["connections_total"] = link.connections
            metrics["reconnect_attempts"] = link.attempt
            valid = link.client.firmware_validated()
            checks["firmware_valid"] = {"pass": valid is True,
                                        "note": "" if valid else "firmware not validated"}
            checks["connected"] = {"pass": link.connected(),
                                   "note": "" if link.connected() else str(link.last_error)}
            if link.client.firmware_auto_revert_detected():
                alarms["firmware_reverted"] = "the previous update was rolled back"
            from nerves_hub_link.kv import active

            for key in ("nerves_fw_version", "nerves_fw_uuid", "nerves_fw_platform"):
                v = active(link.kv, key)
                if v:
                    metadata[key[len("nerves_fw_"):]] = str(v)
        for fn in self.extra_metrics:
            try:
                more = fn()
            except Exception as e:  # a user metric must not break the report
                log.exception("health metric", e)
                continue
            if isinstance(more, dict):
                for k in more:
                    metrics[k] = more[k]
        conn = _call(hal, "connectivity") if hal is not None else None
        now = hal.unix_time() if hal is not None else 0
        return {"timestamp": iso8601(now), "metadata": metadata, "alarms": alarms,
                "metrics": metrics, "checks": checks,
                "connectivity": conn if isinstance(conn, dict) else {}}


def _call(obj, name):
    fn = getattr(obj, name, None)
    if fn is None:
        return None
    try:
        return fn()
    except Exception as e:  # a HAL hook must not break the report
        log.exception("hal." + name, e)
        return None


def _memory():
    import gc

    free = getattr(gc, "mem_free", None)
    alloc = getattr(gc, "mem_alloc", None)
    if free is None or alloc is None:
        return {}  # CPython: the port's HAL may report memory through metrics callables
    f, a = free(), alloc()
    total = f + a
    return {"mem_free_bytes": f, "mem_alloc_bytes": a,
            "mem_size_mb": total / 1048576, "mem_used_mb": a / 1048576,
            "mem_used_percent": (a * 100) // total if total else 0}


class Geo:
    """The ``geo`` extension; ``resolver()`` returns a location dict (or a coroutine)."""

    name = "geo"

    def __init__(self, resolver=None):
        self.resolver = resolver

    def handle(self, event, payload, push):
        if event != "location:request":
            return False
        if self.resolver is None:
            push("location:update", {"error_code": "no_source",
                                     "error_description": "no location source configured"})
            return True
        try:
            r = self.resolver()
        except Exception as e:  # report, never crash the link
            push("location:update", _geo_error(e))
            return True
        if hasattr(r, "send"):
            return _finish_geo(r, push)
        push("location:update", _geo_result(r))
        return True


async def _finish_geo(coro, push):
    try:
        r = await coro
    except Exception as e:
        push("location:update", _geo_error(e))
        return
    push("location:update", _geo_result(r))


def _geo_error(e):
    return {"error_code": "resolver_failed", "error_description": "%s: %s"
            % (type(e).__name__, e)}


def _geo_result(r):
    if not isinstance(r, dict) or "latitude" not in r or "longitude" not in r:
        return {"error_code": "bad_location",
                "error_description": "resolver returned %r" % (r,)}
    out = {"source": r.get("source", "device")}
    for k in r:
        out[k] = r[k]
    return out


class Extensions:
    """Attach state and dispatch; ``push(event, payload)`` is a push on ``extensions``."""

    def __init__(self, push, available):
        self._push = push
        self.available = {}
        for ext in available:
            self.available[ext.name] = ext
        self.attached = set()
        self.attach_refs = {}  # ref of an ":attached" push -> name

    def join_payload(self):
        """``{name: version}`` of every offered extension."""
        out = {}
        for name in self.available:
            out[name] = getattr(self.available[name], "version", VERSION)
        return out

    def joined(self, response):
        """The join reply: the list of names to attach (anything else is ignored)."""
        self.attached = set()
        self.attach_refs = {}
        if isinstance(response, list):
            self.attach(response)
        else:
            log.warning("extensions: join reply %r is not a list; nothing attached", response)

    def attach(self, names):
        """Start and announce each named extension (unknown ones get ``:error``)."""
        for name in names:
            if not isinstance(name, str):
                continue
            ext = self.available.get(name)
            if ext is None:
                self._push(name + ":error", {"reason": "unknown_extension"})
                continue
            start = getattr(ext, "start", None)
            try:
                if start is not None:
                    start()
            except Exception as e:
                log.exception("extension %s start" % name, e)
                self._push(name + ":error", {"reason": "start_failure"})
                continue
            self.attached.add(name)
            ref = self._push(name + ":attached", {})
            if ref is not None:
                self.attach_refs[ref] = name
            log.state("extension attached", name)

    def detach(self, names):
        """Stop and announce each named attached extension."""
        for name in names:
            if name in self.attached:
                self.attached.discard(name)
                stop = getattr(self.available[name], "stop", None)
                if stop is not None:
                    try:
                        stop()
                    except Exception as e:
                        log.exception("extension %s stop" % name, e)
                self._push(name + ":detached", {})
                log.state("extension detached", name)

    def reply(self, ref, status, response):
        """A reply to one of our pushes: ``error``/``"detach"`` detaches that extension."""
        name = self.attach_refs.pop(ref, None)
        if name is not None and status == "error" and response == DETACH:
            self.attached.discard(name)
            log.state("extension detached", "%s (by the server)" % name)

    def handle(self, event, payload):
        """A server message on the topic; returns a coroutine when an answer is pending."""
        if not isinstance(payload, dict):
            payload = {}
        if event == "attach":
            self.attach(_names(payload.get("extensions"), self.available))
            return None
        if event == "detach":
            self.detach(_names(payload.get("extensions"), self.available))
            return None
        name, _, sub = event.partition(":")
        if name not in self.attached:
            log.warning("extensions: %s for a detached extension ignored", event)
            return None

        def push(ev, p):
            if name in self.attached:
                return self._push(name + ":" + ev, p)
            return None

        r = self.available[name].handle(sub, payload, push)
        if r is False:
            log.warning("extensions: unknown event %r ignored", event)
            return None
        return r if hasattr(r, "send") else None


def attach(link, extensions=None, metrics=(), geo_resolver=None):
    """Serve ``extensions`` on *link* (health and geo unless *extensions* is given).

    Called again on the same link (the Link attaches the defaults itself), it only replaces
    the offered extensions; takes effect at the next ``extensions:get``."""
    if extensions is None:
        extensions = [Health(link, metrics), Geo(geo_resolver)]
    old = getattr(link, "extensions", None)
    if isinstance(old, Extensions):
        old.available = {}
        for e in extensions:
            old.available[e.name] = e
        # an attached extension that is no longer offered cannot answer: detach it silently
        old.attached = set(n for n in old.attached if n in old.available)
        return old
    ext = Extensions(lambda event, payload: link.push("extensions", event, payload),
                     extensions)

    def on_get(event, payload):
        link.join("extensions", ext.join_payload())

    def on_joined(event, response):
        ext.joined(response)

    def on_reply(event, payload):
        ext.reply(payload.get("ref"), payload.get("status"), payload.get("response"))

    def on_message(event, payload):
        return ext.handle(event, payload)

    link.on("device", "extensions:get", on_get)
    link.on("extensions", "joined", on_joined)
    link.on("extensions", "phx_reply", on_reply)
    link.on("extensions", "*", on_message)
    link.extensions = ext
    return ext
