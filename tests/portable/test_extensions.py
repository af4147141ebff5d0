# heapsize: 512K
"""extensions: join payload, attach/detach, health reports, geo hook, detach replies,
ISO-8601 timestamps; identify's LED blink."""

import asyncio

from nerves_hub_link import extensions as ext
from nerves_hub_link.kv import MemoryKV


class Hal:
    def __init__(self):
        self.t = 5000
        self.temp = None

    def ticks_ms(self):
        return self.t

    def unix_time(self):
        return 1700000000

    def cpu_temperature(self):
        if self.temp is None:
            raise OSError("no sensor")
        return self.temp


class SafeClientDouble:
    def __init__(self, valid=True, reverted=False):
        self.valid = valid
        self.reverted = reverted

    def firmware_validated(self):
        return self.valid

    def firmware_auto_revert_detected(self):
        return self.reverted


class Link:
    def __init__(self, valid=True):
        self.hal = Hal()
        self.kv = MemoryKV({"nerves_fw_active": "b", "b.nerves_fw_version": "1.2.3",
                            "b.nerves_fw_uuid": "u-1", "a.nerves_fw_version": "0.9"})
        self.client = SafeClientDouble(valid)
        self.connections = 3
        self.attempt = 0
        self.last_error = "heartbeat timeout"
        self.handlers = {}
        self.pushes = []
        self.joins = []
        self.up = True

    def connected(self):
        return self.up

    def on(self, topic, event, handler):
        self.handlers[(topic, event)] = handler

    def push(self, topic, event, payload):
        self.pushes.append((topic, event, payload))
        return str(len(self.pushes))

    def join(self, topic, payload):
        self.joins.append((topic, payload))
        return True

    def events(self):
        return [e for t, e, p in self.pushes]


def _attached(names=("health", "geo"), **kw):
    link = Link()
    e = ext.attach(link, **kw)
    link.handlers[("device", "extensions:get")]("extensions:get", {})
    link.handlers[("extensions", "joined")]("joined", list(names))
    return link, e


def test_supported_versions():
    assert ext.supported("2.2.0") and ext.supported("2.3.0") and ext.supported("2.10.1")
    assert ext.supported("3")
    assert not ext.supported("2.1.9") and not ext.supported("2.0.0") and not ext.supported("")


def test_iso8601():
    assert ext.iso8601(0) == "1970-01-01T00:00:00Z"
    assert ext.iso8601(1700000000) == "2023-11-14T22:13:20Z"
    assert ext.iso8601(951782400) == "2000-02-29T00:00:00Z"
    assert ext.iso8601(4102444799) == "2099-12-31T23:59:59Z"


def test_join_offers_health_and_geo():
    link = Link()
    ext.attach(link)
    link.handlers[("device", "extensions:get")]("extensions:get", {})
    assert link.joins == [("extensions", {"health": "0.0.1", "geo": "0.0.1"})]


def test_join_reply_attaches_listed_and_reports_unknown():
    link, e = _attached(["health", "network_identity"])
    assert link.pushes == [("extensions", "health:attached", {}),
                           ("extensions", "network_identity:error",
                            {"reason": "unknown_extension"})]
    assert e.attached == {"health"}


def test_non_list_join_reply_attaches_nothing():
    link = Link()
    e = ext.attach(link)
    link.handlers[("extensions", "joined")]("joined", {"status": "?"})
    assert e.attached == set() and link.pushes == []


def test_health_check_gets_a_report():
    link, e = _attached()
    link.hal.temp = 41.5
    link.hal.t += 65000
    link.pushes.clear()
    link.handlers[("extensions", "*")]("health:check", {})
    assert len(link.pushes) == 1
    topic, event, payload = link.pushes[0]
    assert (topic, event) == ("extensions", "health:report")
    v = payload["value"]
    assert sorted(v) == ["alarms", "checks", "connectivity", "metadata", "metrics", "timestamp"]
    assert v["timestamp"] == "2023-11-14T22:13:20Z"
    m = v["metrics"]
    assert m["uptime_s"] == 65
    assert m["cpu_temp"] == 41.5
    assert m["connections_total"] == 3
    import gc

    if hasattr(gc, "mem_free"):  # MicroPython: gc knows the heap
        assert m["mem_free_bytes"] > 0 and m["mem_alloc_bytes"] > 0
        assert 0 <= m["mem_used_percent"] <= 100
    assert v["checks"]["firmware_valid"] == {"pass": True, "note": ""}
    assert v["checks"]["connected"]["pass"] is True
    assert v["metadata"]["version"] == "1.2.3" and v["metadata"]["uuid"] == "u-1"
    assert v["alarms"] == {} and v["connectivity"] == {}


def test_health_hooks_failures_and_extra_metrics():
    link = Link(valid=False)
    link.client.reverted = True
    link.up = False
    ext.attach(link, metrics=[lambda: {"queue_depth": 4}, lambda: 1 / 0])
    link.handlers[("extensions", "joined")]("joined", ["health"])
    link.handlers[("extensions", "*")]("health:check", {})
    v = link.pushes[-1][2]["value"]
    assert "cpu_temp" not in v["metrics"]  # the sensor raised: left out
    assert v["metrics"]["queue_depth"] == 4
    assert v["checks"]["firmware_valid"]["pass"] is False
    assert v["checks"]["connected"] == {"pass": False, "note": "heartbeat timeout"}
    assert "firmware_reverted" in v["alarms"]


def test_geo_default_has_no_source():
    link, e = _attached()
    link.handlers[("extensions", "*")]("geo:location:request", {})
    assert link.pushes[-1] == ("extensions", "geo:location:update",
                               {"error_code": "no_source",
                                "error_description": "no location source configured"})


def test_geo_resolver_plain_and_coroutine():
    link, e = _attached(geo_resolver=lambda: {"latitude": 1.5, "longitude": -2.25,
                                              "accuracy": 10})
    link.handlers[("extensions", "*")]("geo:location:request", {})
    assert link.pushes[-1][2] == {"source": "device", "latitude": 1.5, "longitude": -2.25,
                                  "accuracy": 10}

    async def gps():
        await asyncio.sleep(0)
        return {"latitude": 3, "longitude": 4, "source": "gps"}

    link, e = _attached(geo_resolver=gps)
    coro = link.handlers[("extensions", "*")]("geo:location:request", {})
    asyncio.run(coro)
    assert link.pushes[-1][2] == {"source": "gps", "latitude": 3, "longitude": 4}
    link, e = _attached(geo_resolver=lambda: "nowhere")
    link.handlers[("extensions", "*")]("geo:location:request", {})
    assert link.pushes[-1][2]["error_code"] == "bad_location"


def test_detached_extensions_do_not_answer_and_attach_again():
    link, e = _attached(["geo"])
    n = len(link.pushes)
    link.handlers[("extensions", "*")]("health:check", {})
    assert len(link.pushes) == n
    link.handlers[("extensions", "*")]("attach", {"extensions": "health"})
    assert link.pushes[-1] == ("extensions", "health:attached", {})
    link.handlers[("extensions", "*")]("detach", {"extensions": "all"})
    assert sorted(link.events()[-2:]) == ["geo:detached", "health:detached"]
    assert e.attached == set()
    link.handlers[("extensions", "*")]("attach", {"extensions": ["health", "geo"]})
    assert e.attached == {"health", "geo"}


def test_error_reply_detach_to_attached_push():
    link, e = _attached(["health", "geo"])
    ref = [str(i + 1) for i, (t, ev, p) in enumerate(link.pushes) if ev == "geo:attached"][0]
    link.handlers[("extensions", "phx_reply")]("phx_reply", {"ref": ref, "status": "error",
                                                             "response": "detach"})
    assert e.attached == {"health"}
    link.handlers[("extensions", "phx_reply")]("phx_reply", {"ref": "999", "status": "error",
                                                             "response": "detach"})
    assert e.attached == {"health"}


def test_attach_again_drops_attached_extensions_no_longer_offered():
    # regression: an extension still attached but no longer offered raised KeyError on its
    # next message or detach
    link, e = _attached(["health", "geo"])
    ext.attach(link, extensions=[ext.Geo()])
    n = len(link.pushes)
    assert link.handlers[("extensions", "*")]("health:check", {}) is None
    link.handlers[("extensions", "*")]("detach", {"extensions": ["health"]})
    assert len(link.pushes) == n and e.attached == {"geo"}


def test_unknown_extension_event_is_ignored():
    link, e = _attached()
    n = len(link.pushes)
    assert link.handlers[("extensions", "*")]("health:frobnicate", {}) is None
    assert link.handlers[("extensions", "*")]("bogus", "x") is None
    assert len(link.pushes) == n


class Pin:
    def __init__(self):
        self.v = 0
        self.history = []

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v
        self.history.append(v)


def test_identify_blinks_the_hal_led_and_restores_it():
    from nerves_hub_link import identify

    class LedHal:
        led = Pin()

        async def sleep_ms(self, ms):
            await asyncio.sleep(0)

    hal = LedHal()
    hal.led.v = 1

    async def main():
        t = identify.identify(hal, times=3, period_ms=10)
        assert identify.identify(hal) is t  # already blinking: same task
        await t

    asyncio.run(main())
    assert hal.led.history == [1, 0, 1, 0, 1, 0, 1]
    assert hal.led.v == 1


def test_identify_prefers_the_hal_hook_and_tolerates_no_led():
    from nerves_hub_link import identify

    calls = []

    class HookHal:
        def identify(self):
            calls.append(1)

    assert identify.identify(HookHal()) is None and calls == [1]

    class Bare:
        pass

    assert identify.identify(Bare()) is None  # unix/CPython: no machine.Pin("LED")


def test_attach_again_replaces_the_offer_without_double_handlers():
    link = Link()
    first = ext.attach(link)
    handlers = dict(link.handlers)
    again = ext.attach(link, geo_resolver=lambda: {"latitude": 0, "longitude": 0})
    assert again is first and link.handlers == handlers
    link.handlers[("extensions", "joined")]("joined", ["geo"])
    link.handlers[("extensions", "*")]("geo:location:request", {})
    assert link.events() == ["geo:attached", "geo:location:update"]
    assert link.pushes[-1][2]["latitude"] == 0
