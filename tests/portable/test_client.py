# heapsize: 256K
from nerves_hub_link import log
from nerves_hub_link.client import Client, SafeClient
from nerves_hub_link.kv import MemoryKV


class _Link:
    def __init__(self, kv, reconnect=None):
        self.kv = kv
        self.rebooted = 0
        self.config = self
        self._reconnect = reconnect

    def reconnect_after_ms(self):
        return self._reconnect

    def hal_reboot(self):
        self.rebooted += 1


def _client(cls=Client, kv=None, reconnect=None):
    c = cls()
    link = _Link(kv or MemoryKV({"nerves_fw_active": "a", "a.nerves_fw_uuid": "u-1"}), reconnect)
    c.attach(link)
    return SafeClient(c), link


def _quiet(fn):
    lines = []
    old = log.set_sink(lines.append)
    try:
        return fn(), lines
    finally:
        log.set_sink(old)


def test_default_apply_unless_same_uuid():
    sc, _ = _client()
    assert sc.update_available({"firmware_meta": {"uuid": "u-2"}}) == "apply"
    r, _ = _quiet(lambda: sc.update_available({"firmware_meta": {"uuid": "u-1"}}))
    assert r == "ignore"


def test_update_answers_pass_through():
    class C(Client):
        answer = None

        def update_available(self, info):
            return self.answer

    sc, _ = _client(C)
    for a in ("apply", "ignore", ("ignore", "on battery"), ("reschedule", 1337),
              ("reschedule", 10, "busy")):
        sc.client.answer = a
        assert sc.update_available({}) == a
    # regression: list answers were refused (so ["ignore", ...] applied the update) although
    # update_available converts them to tuples and the update manager accepts them
    for a in (["ignore", "on battery"], ["reschedule", 1337], ["reschedule", 10, "busy"]):
        sc.client.answer = a
        assert sc.update_available({}) == tuple(a)
    for bad in ("wrong", ("reschedule", 0), ("reschedule", "x"), None, 3):
        sc.client.answer = bad
        r, lines = _quiet(lambda: sc.update_available({}))
        assert r == "apply", bad
        assert any("[warning]" in x for x in lines)


def test_exceptions_in_callbacks_are_logged_and_defaulted():
    class Boom(Client):
        def update_available(self, info):
            raise ValueError("boom")

        def handle_fwup_message(self, msg):
            raise RuntimeError("x")

        def archive_available(self, info):
            raise KeyError("y")

        def reconnect_backoff(self):
            raise OSError(5)

    sc, _ = _client(Boom)
    r, lines = _quiet(lambda: sc.update_available({}))
    assert r == "apply"
    assert "ValueError" in lines[0] and "boom" in lines[0]
    assert _quiet(lambda: sc.handle_fwup_message({"progress": 5}))[0] is None
    assert _quiet(lambda: sc.archive_available({}))[0] == "ignore"
    assert _quiet(sc.reconnect_backoff)[0] is None


def test_archive_defaults_and_answers():
    sc, _ = _client()
    assert _quiet(lambda: sc.archive_available({}))[0] == "ignore"

    class D(Client):
        def archive_available(self, info):
            return ("reschedule", 500)

    assert _client(D)[0].archive_available({}) == ("reschedule", 500)

    class L(Client):
        def archive_available(self, info):
            return ["reschedule", 500]

    assert _client(L)[0].archive_available({}) == ("reschedule", 500)


def test_reconnect_backoff_from_config_and_validation():
    sc, _ = _client(reconnect=[10, 20])
    assert sc.reconnect_backoff() == [10, 20]

    class Bad(Client):
        def reconnect_backoff(self):
            return [10, -1]

    r, lines = _quiet(_client(Bad)[0].reconnect_backoff)
    assert r is None and lines


def test_reboot_default_uses_the_link_hal():
    sc, link = _client()
    sc.reboot()
    assert link.rebooted == 1


def test_validation_defaults_from_kv():
    kv = MemoryKV({"nerves_fw_active": "a", "upgrade_available": "1",
                   "b.nerves_fw_validated": "0", "b.nerves_fw_platform": "p",
                   "b.nerves_fw_architecture": "x"})
    sc, _ = _client(kv=kv)
    assert sc.firmware_validated() is False
    assert sc.firmware_auto_revert_detected() is True

    class Odd(Client):
        def firmware_validated(self):
            return "yes"

    assert _quiet(_client(Odd)[0].firmware_validated)[0] is True


def test_duck_typed_client_without_methods():
    sc = SafeClient(object())
    assert sc.update_available({}) == "apply"
    assert sc.archive_available({}) == "ignore"
    assert sc.reconnect_backoff() is None
    sc.identify()
    sc.handle_error("x")
