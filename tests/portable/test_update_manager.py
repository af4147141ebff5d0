# heapsize: 1M
# Update manager decisions and status pushes (spec §5.2), with a fake applier and network.
import asyncio

from nerves_hub_link import update_manager as um
from nerves_hub_link.errors import FwupError, UpdateError
from nerves_hub_link.firmware import Firmware
from test_download_driver import BODY, Clock, Net, head, ok, partial
from test_firmware import MemoryKV

META = {"uuid": "uuid-v2", "version": "2.0.0", "product": "demo", "platform": "host",
        "architecture": "x86_64"}
UPDATE = {"update_available": True, "firmware_url": "http://hub:4000/fw/v2.fw?sig=s",
          "firmware_meta": META}
KEY = "pZ2L4Cuvk/PAbLWcrPHSkDK6FjflTA4gXKaUSZg7x5I="


class FakeApplier:
    """Counts bytes, reports progress like fwup, fails on demand, switches the KV slot."""

    instances = []

    def __init__(self, keys, events, kv=None, fail_at=None, total=None):
        self.keys = keys
        self.events = events
        self.data = bytearray()
        self.kv = kv
        self.fail_at = fail_at
        self.total = total or len(BODY)
        self.finished = False
        FakeApplier.instances.append(self)
        events(("progress", 0))

    def feed(self, chunk):
        self.data.extend(chunk)
        if self.fail_at is not None and len(self.data) >= self.fail_at:
            raise FwupError("Invalid signature")
        self.events(("progress", len(self.data) * 100 // self.total))

    def finish(self):
        if len(self.data) != self.total:
            raise FwupError("Unexpected end of input")
        self.finished = True
        if self.kv is not None:
            self.kv.set({"nerves_fw_active": "b", "b.nerves_fw_uuid": META["uuid"]})
        self.events(("progress", 100))


class StepClock(Clock):
    step = 0

    def ticks_ms(self):
        self.now += self.step
        return self.now


class Harness:
    def __init__(self, script=None, keys=(KEY,), client=None, kv=None, fail_at=None, **kw):
        FakeApplier.instances = []
        self.pushed = []
        self.spawned = []
        self.clock = StepClock()
        self.kv = kv if kv is not None else MemoryKV({"nerves_fw_active": "a",
                                                     "a.nerves_fw_uuid": "uuid-v1"})
        self.net = Net(script if script is not None else [ok(BODY)])
        self.reboots = 0

        def make_applier(keys, events):
            return FakeApplier(keys, events, kv=self.kv, fail_at=fail_at)

        def reboot():
            self.reboots += 1

        self.m = um.UpdateManager(self.push, make_applier, self.net.open_connection,
                                  self.clock.ticks_ms, client=client,
                                  firmware=Firmware(self.kv), fwup_public_keys=keys,
                                  sleep_ms=self.clock.sleep_ms, spawn=self.spawned.append,
                                  reboot=reboot,
                                  network_interface=lambda: "eth0", **kw)

    def push(self, event, payload):
        self.pushed.append((event, payload))

    def statuses(self):
        return [p["status"] for e, p in self.pushed if e == "status_update"]

    def progress(self, stage="updating"):
        return [p["value"] for e, p in self.pushed if e == "fwup_progress" and p["stage"] == stage]

    def discard(self):
        for coro in self.spawned:
            coro.close()
        self.spawned = []

    def run_spawned(self):
        while self.spawned:
            asyncio.run(_await(self.spawned.pop(0)))


async def _await(coro):
    return await coro


class Client:
    def __init__(self, answer):
        self.answer = answer
        self.asked = []
        self.fwup = []

    def update_available(self, info):
        self.asked.append(info)
        return self.answer

    def handle_fwup_message(self, msg):
        self.fwup.append(msg)


def test_apply_runs_download_and_reports_completed():
    h = Harness()
    assert h.m.on_update(UPDATE) == um.UPDATING
    assert h.m.currently_downloading_uuid == "uuid-v2"
    assert h.statuses() == ["received"]
    h.run_spawned()
    assert h.statuses() == ["received", "started", "completed"]
    started = [p for e, p in h.pushed if p.get("status") == "started"][0]
    assert started["downloader_network_interface"] == "eth0"
    assert h.progress()[0] == 0 and h.progress()[-1] == 100
    # the 100 comes right before completed
    assert h.pushed[-2] == ("fwup_progress", {"stage": "updating", "value": 100})
    assert bytes(FakeApplier.instances[0].data) == BODY
    assert FakeApplier.instances[0].keys == [KEY]
    assert h.m.status == um.IDLE and h.m.currently_downloading_uuid is None
    assert h.reboots == 1
    # the new slot is on trial until it validates
    assert h.kv.get("nerves_fw_active") == "b" and h.kv.get("upgrade_available") == "1"


def test_progress_is_throttled():
    h = Harness()
    h.m.on_update(UPDATE)
    h.run_spawned()  # the fake clock never advances while downloading
    assert h.progress() == [0, 100]


def test_update_during_update_is_ignored():
    h = Harness()
    h.m.on_update(UPDATE)
    n = len(h.pushed)
    assert h.m.on_update(dict(UPDATE, firmware_meta=dict(META, uuid="other"))) == um.UPDATING
    assert len(h.pushed) == n and len(h.spawned) == 1
    assert h.m.currently_downloading_uuid == "uuid-v2"
    h.run_spawned()
    assert h.statuses() == ["received", "started", "completed"]


def test_no_keys_refuses_without_asking_client():
    c = Client("apply")
    h = Harness(keys=(), client=c)
    assert h.m.on_update(UPDATE) == um.IDLE
    assert h.pushed == [("status_update", {"status": "failed", "reason": um.NO_KEYS_REASON})]
    assert c.asked == [] and h.spawned == []


def test_ignore_and_ignore_with_reason():
    h = Harness(client=Client("ignore"))
    h.m.on_update(UPDATE)
    assert h.pushed[-1] == ("status_update", {"status": "ignored", "reason": ""})
    h = Harness(client=Client(("ignore", "on battery")))
    h.m.on_update(UPDATE)
    assert h.pushed[-1] == ("status_update", {"status": "ignored", "reason": "on battery"})
    assert h.m.status == um.IDLE and h.spawned == []


def test_default_client_skips_running_firmware():
    kv = MemoryKV({"nerves_fw_active": "a", "a.nerves_fw_uuid": "uuid-v2"})
    h = Harness(kv=kv)
    h.m.on_update(UPDATE)
    assert h.statuses() == ["received", "ignored"]


def test_reschedule_tells_server_and_asks_again_later():
    c = Client(("reschedule", 600000))
    h = Harness(client=c)
    assert h.m.on_update(UPDATE) == um.IDLE
    assert h.pushed[-1] == ("status_update", {"status": "rescheduled", "delay_for": 10})
    assert h.m.rescheduled is not None and len(h.spawned) == 1
    c.answer = "apply"
    h.run_spawned()  # timer fires (fake sleep), client asked again, update runs
    assert h.clock.slept[0] == 600000
    assert len(c.asked) == 2
    assert h.statuses()[-1] == "completed"


def test_reschedule_minutes_with_reason_and_minimum():
    h = Harness(client=Client(("reschedule", 60000)))
    h.m.on_update(UPDATE)
    assert h.pushed[-1] == ("status_update", {"status": "rescheduled", "delay_for": 5})
    h.discard()
    h = Harness(client=Client(("reschedule", 15, "Busy")))
    h.m.on_update(UPDATE)
    assert h.pushed[-1] == ("status_update",
                            {"status": "rescheduled", "delay_for": 15, "reason": "Busy"})
    h.discard()


def test_new_update_cancels_pending_reschedule():
    c = Client(("reschedule", 1000))
    h = Harness(client=c)
    h.m.on_update(UPDATE)
    c.answer = "ignore"
    h.m.on_update(UPDATE)
    h.run_spawned()  # the first timer is stale: the client is not asked a third time
    assert len(c.asked) == 2


def test_unknown_answer_applies():
    h = Harness(client=Client("what?"))
    assert h.m.on_update(UPDATE) == um.UPDATING
    h.discard()


def test_bad_payload_is_ignored():
    h = Harness()
    assert h.m.on_update({"firmware_url": "http://x/y"}) == um.IDLE
    assert h.pushed == []


def test_fwup_error_reports_failed_and_no_reboot():
    c = Client("apply")
    h = Harness(client=c, fail_at=100)
    h.m.on_update(UPDATE)
    h.run_spawned()
    assert h.statuses() == ["received", "started", "failed"]
    reason = h.pushed[-1][1]["reason"]
    assert reason.startswith("FWUP error") and "Invalid signature" in reason
    assert c.fwup[-1] == ("error", 1, "Invalid signature")  # reported by the manager
    assert h.reboots == 0 and h.m.status == um.IDLE
    assert h.kv.get("nerves_fw_active") == "a" and h.kv.get("upgrade_available") is None


def test_applier_creation_error_reports_failed_not_stuck():
    # regression: the applier was made before run_update's error handling, so a missing
    # block device (or an undecodable key) left the manager "updating" forever
    h = Harness()

    def make(keys, events):
        raise UpdateError("no block_device configured: cannot apply firmware")

    h.m.make_applier = make
    h.m.on_update(UPDATE)
    h.run_spawned()
    assert h.statuses() == ["received", "failed"]
    assert "no block_device" in h.pushed[-1][1]["reason"]
    assert h.m.status == um.IDLE and h.m.currently_downloading_uuid is None
    assert h.reboots == 0


def test_http_404_reports_download_failed():
    h = Harness(script=[[head(404, [("Content-Length", 0)])]])
    h.m.on_update(UPDATE)
    h.run_spawned()
    assert h.statuses() == ["received", "started", "failed"]
    reason = h.pushed[-1][1]["reason"]
    assert reason.startswith("Download failed") and "404" in reason and "sig=s" not in reason
    assert h.reboots == 0


def test_200_on_resume_uses_fresh_applier():
    h200 = len(head(200, [("Content-Length", len(BODY))]))
    h = Harness(script=[ok(BODY, cut=h200 + 3000), ok(BODY)])
    h.m.on_update(UPDATE)
    h.run_spawned()
    assert h.statuses() == ["received", "started", "started", "completed"]
    assert len(FakeApplier.instances) == 2
    assert bytes(FakeApplier.instances[1].data) == BODY


def test_resume_with_206_keeps_applier():
    h200 = len(head(200, [("Content-Length", len(BODY))]))
    h = Harness(script=[ok(BODY, cut=h200 + 3000), lambda start: partial(start, BODY)])
    h.m.on_update(UPDATE)
    h.run_spawned()
    assert h.statuses()[-1] == "completed" and len(FakeApplier.instances) == 1


def test_download_progress_is_optional():
    h = Harness()
    h.m.on_update(UPDATE)
    h.run_spawned()
    assert h.progress("downloading") == []
    h = Harness(download_progress=True)
    h.clock.step = 600  # every clock read is 600 ms later: nothing is held back by time
    h.m.on_update(UPDATE)
    h.run_spawned()
    got = h.progress("downloading")
    assert len(got) >= 3 and got[-1] == 100
    assert all(got[i] < got[i + 1] for i in range(len(got) - 1))


def test_server_keys_replace_but_never_clear():
    h = Harness(keys=())
    h.m.on_fwup_public_keys({"keys": []})
    h.m.on_fwup_public_keys({"keys": [1, None]})
    assert h.m.keys.list() == []
    h.m.on_fwup_public_keys({"keys": [" " + KEY + " ", 5]})
    assert h.m.keys.list() == [KEY]
    h.m.on_fwup_public_keys({"keys": []})
    assert h.m.keys.list() == [KEY]
    h.m.add_key("other")
    h.m.add_key("other")
    assert h.m.keys.list() == [KEY, "other"]
    h.m.remove_key(KEY)
    assert h.m.keys.list() == ["other"]
    assert h.m.on_update(UPDATE) == um.UPDATING
    h.discard()


def test_client_exception_is_contained():
    class Bad:
        def update_available(self, info):
            raise ValueError("boom")

        def handle_fwup_message(self, msg):
            raise ValueError("boom")

    h = Harness(client=Bad())
    assert h.m.on_update(UPDATE) == um.UPDATING
    h.run_spawned()
    assert h.statuses()[-1] == "completed"


def test_normalize_decision():
    n = um.normalize_decision
    assert n("apply") == ("apply", None, None)
    assert n(("reschedule", 600000)) == ("reschedule", 600000, (10, None))
    assert n(("reschedule", 0)) == ("apply", None, None)
    assert n(("reschedule", 2, "x")) == ("reschedule", 120000, (5, "x"))
    assert n(None) == ("apply", None, None)
