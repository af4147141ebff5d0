# heapsize: 512K
"""console: REPL session over dn/up, inactivity timeout banner, restart, offline output,
attach() wiring into a link, the dupterm shell with a fake os module."""

from nerves_hub_link import console as con
from nerves_hub_link.errors import NervesHubError
from nerves_hub_link.repl import PS1
from support import raises

BANNER = ("\r\n****************************************\r\n"
          "*   Session timeout due to inactivity  *\r\n"
          "*                                      *\r\n"
          "*   Press any key to continue...       *\r\n"
          "****************************************\r\n")


class Clock:
    def __init__(self):
        self.t = 1000

    def __call__(self):
        return self.t


class Wire:
    """The push side: records every push; ``online=False`` drops them like Link.push."""

    def __init__(self):
        self.pushes = []
        self.online = True
        self.n = 0

    def __call__(self, event, payload):
        if not self.online:
            return None
        self.n += 1
        self.pushes.append((event, payload))
        return str(self.n)

    def text(self):
        return "".join(p["data"] for e, p in self.pushes if e == "up")

    def clear(self):
        self.pushes = []


def _console(timeout_ms=300000, **kw):
    clock, wire = Clock(), Wire()
    c = con.Console(wire, clock, timeout_ms, **kw)
    return c, clock, wire


def test_timeout_banner_is_the_specified_text():
    assert con.TIMEOUT_BANNER == BANNER
    assert len(BANNER) == 212


def test_join_starts_a_shell_with_banner_and_prompt():
    c, clock, wire = _console()
    c.joined()
    assert c.running()
    assert wire.text().startswith("nerves_hub_link console: ")
    assert wire.text().endswith(PS1)
    assert len(wire.pushes) == 1  # gathered into one up


def test_dn_evaluates_and_keeps_state():
    c, clock, wire = _console()
    c.joined()
    wire.clear()
    c.handle("dn", {"data": "a = 20\r"})
    c.handle("dn", {"data": "a * 2 + 2\r"})
    assert wire.text() == "a = 20\r\n" + PS1 + "a * 2 + 2\r\n42\r\n" + PS1
    assert all(e == "up" for e, p in wire.pushes)


def test_first_message_starts_the_shell():
    c, clock, wire = _console()
    c.handle("dn", {"data": "3*3\r"})
    assert "9\r\n" in wire.text()
    assert c.sessions == 1


def test_traceback_is_shown():
    c, clock, wire = _console()
    c.joined()
    c.handle("dn", {"data": "[][1]\r"})
    assert "IndexError" in wire.text()
    assert wire.text().endswith(PS1)


def test_inactivity_timeout_banner_stops_and_next_key_restarts():
    c, clock, wire = _console(timeout_ms=5000)
    c.joined()
    c.handle("dn", {"data": "k = 1\r"})
    assert c.deadline() == clock.t + 5000
    clock.t += 4999
    assert not c.tick()
    c.handle("window_size", {"height": 24, "width": 80})  # activity: timer restarts
    clock.t += 4999
    assert not c.tick()
    clock.t += 1
    wire.clear()
    assert c.tick()
    assert wire.pushes == [("up", {"data": BANNER})]
    assert not c.running() and c.deadline() is None
    assert not c.tick()
    wire.clear()
    c.handle("dn", {"data": "x"})  # "press any key": a fresh shell, the key is consumed
    assert c.running() and c.sessions == 2
    assert wire.text().endswith(PS1)
    assert "x" not in wire.text().split("\r\n")[-1]
    c.handle("dn", {"data": "k\r"})
    assert "NameError" in wire.text()


def test_output_restarts_the_timer():
    c, clock, wire = _console(timeout_ms=1000)
    c.joined()
    clock.t += 900
    c._write("late output\n")  # e.g. a dupterm shell's drain task
    clock.t += 900
    assert not c.tick()
    assert c.deadline() == clock.t + 100


def test_restart_notice_and_fresh_namespace():
    c, clock, wire = _console()
    c.joined()
    c.handle("dn", {"data": "q = 1\r"})
    wire.clear()
    c.handle("restart", {})
    assert wire.pushes[0] == ("up", {"data": "\r*** Restarting IEx ***\r"})
    c.handle("dn", {"data": "q\r"})
    assert "NameError" in wire.text()
    assert c.sessions == 2


def test_system_exit_restarts_with_the_stopped_notice():
    c, clock, wire = _console()
    c.joined()
    wire.clear()
    c.handle("dn", {"data": "raise SystemExit\r"})
    assert "\r******* Remote IEx stopped: SystemExit *******\r" in wire.text()
    assert c.running() and c.sessions == 2


def test_window_size_is_kept_and_bad_ones_ignored():
    c, clock, wire = _console()
    c.handle("window_size", {"height": 40, "width": 120})
    assert c.window == (40, 120)
    c.handle("window_size", {"height": "x", "width": 1})
    assert c.window == (40, 120)


def test_output_offline_is_kept_and_sent_after_rejoin():
    c, clock, wire = _console()
    c.joined()
    c.handle("dn", {"data": "v = 7\r"})
    wire.online = False
    c.handle("dn", {"data": "v\r"})
    assert c.pending
    wire.online = True
    wire.clear()
    c.joined()  # same shell: state survived the disconnect
    assert wire.text() == "v\r\n7\r\n" + PS1
    assert c.sessions == 1 and not c.pending


def test_offline_output_is_bounded():
    c, clock, wire = _console()
    c.joined()
    wire.online = False
    c.handle("dn", {"data": "print('y' * %d)\r" % (con.MAX_PENDING * 2)})
    assert c.pending_chars <= con.MAX_PENDING
    assert c.dropped_chars > 0
    wire.online = True
    wire.clear()
    c.joined()
    assert "characters of console output dropped]" in wire.text()


def test_long_output_is_split_into_bounded_up_messages():
    c, clock, wire = _console()
    c.joined()
    wire.clear()
    c.handle("dn", {"data": "print('z' * 5000)\r"})
    assert all(len(p["data"]) <= con.MAX_UP for e, p in wire.pushes)
    assert wire.text().count("z") == 5000 + 1  # plus the echoed input's 'z'


def test_unknown_event_and_bad_payload_are_ignored():
    c, clock, wire = _console()
    c.handle("frobnicate", {})
    c.handle("dn", "not-a-dict")
    c.handle("dn", {"data": 5})
    assert c.running()


class FakeHal:
    def __init__(self):
        self.t = 0

    def ticks_ms(self):
        return self.t


class FakeConfig:
    remote_console = True
    remote_console_timeout_s = 2
    data_path = "build/tmp_console"


class FakeLink:
    def __init__(self):
        self.config = FakeConfig()
        self.hal = FakeHal()
        self.handlers = {}
        self.pushes = []
        self.joined_topics = []
        self.console_active_flag = False

    def on(self, topic, event, handler):
        self.handlers[(topic, event)] = handler

    def push(self, topic, event, payload):
        self.pushes.append((topic, event, payload))
        return str(len(self.pushes))

    def status(self):
        return {"joined": self.joined_topics}


def test_attach_registers_handlers_and_timeout_from_config():
    link = FakeLink()
    c = con.attach(link)
    assert link.console is c
    assert c.timeout_ms == 2000
    assert ("console", "*") in link.handlers and ("console", "joined") in link.handlers
    assert c.data_path == "build/tmp_console"


def test_attach_send_file_needs_the_joined_topic():
    link = FakeLink()
    con.attach(link)
    e = raises(NervesHubError, link.send_file, "tests/portable/test_console.py")
    assert "not joined" in str(e)
    raises(NervesHubError, link.send_file, "no/such/file")


def test_attached_console_over_an_event_loop():
    import asyncio

    link = FakeLink()
    con.attach(link)

    async def main():
        link.handlers[("console", "joined")]("joined", {})
        assert link.console_active_flag
        link.handlers[("console", "*")]("dn", {"data": "6*7\r"})
        link.hal.t = 2000  # the timer task wakes on the deadline
        for _ in range(50):
            await asyncio.sleep(0.01)
            if not link.console.running():
                break
        ups = "".join(p["data"] for t, e, p in link.pushes if e == "up")
        assert "42\r\n" in ups
        assert ups.endswith(BANNER)
        assert not link.console_active_flag

    asyncio.run(main())


class FakeOs:
    def __init__(self):
        self.slot = ["webrepl"]
        self.calls = []
        self.notified = 0

    def dupterm(self, stream, index=0):
        self.calls.append((stream, index))
        old = self.slot[index]
        self.slot[index] = stream
        return old

    def dupterm_notify(self, obj):
        self.notified += 1


def test_dupterm_stream_is_non_blocking_and_bounded():
    from nerves_hub_link.dupterm import DuptermStream

    s = DuptermStream(max_in=8, max_out=8)
    buf = bytearray(4)
    assert s.readinto(buf) is None  # never 0: that would detach the dupterm slot
    assert s.ioctl(3, 1 | 4) == 4  # writable, nothing to read
    s.feed("abcdefghij")
    assert s.dropped_in == 2 and s.ioctl(3, 1) == 1
    assert s.readinto(buf) == 4 and bytes(buf) == b"cdef"
    assert s.write(b"0123456789") == 10
    assert s.dropped_out == 2
    assert s.take() == "23456789" and s.take() == ""
    s.write("é".encode()[:1])  # a UTF-8 sequence cut in two is kept for the next take
    assert s.take() == ""
    s.write("é".encode()[1:])
    assert s.take() == "é"


def test_dupterm_shell_attaches_and_restores_the_previous_slot():
    from nerves_hub_link.dupterm import DuptermShell

    fake = FakeOs()
    c, clock, wire = _console(shell_factory=lambda w: DuptermShell(w, os_module=fake))
    c.joined()
    sh = c.shell
    assert fake.slot[0] is sh.stream
    c.handle("dn", {"data": "1+1\r"})
    assert fake.notified == 1
    buf = bytearray(16)
    n = sh.stream.readinto(buf)
    assert bytes(buf[:n]) == b"1+1\r"
    assert sh.stream.readinto(buf) is None
    sh.stream.write(b"2\r\n>>> ")
    wire.clear()
    sh.drain()
    assert wire.text() == "2\r\n>>> "
    c.handle("restart", {})
    assert fake.calls[1] == ("webrepl", 0)  # webrepl is back after the old shell closed
    assert fake.slot[0] is c.shell.stream  # and the new shell has the slot
    c.stop()
    assert fake.slot[0] == "webrepl"


def test_dupterm_needs_os_dupterm():
    from nerves_hub_link.dupterm import DuptermShell

    class NoDupterm:
        pass

    e = raises(NervesHubError, DuptermShell, print, NoDupterm())
    assert "no os.dupterm" in str(e)


def test_attach_again_changes_options_only():
    link = FakeLink()
    c = con.attach(link)
    handlers = dict(link.handlers)
    factory = lambda w: None  # noqa: E731
    assert con.attach(link, shell_factory=factory, timeout_ms=7000) is c
    assert link.handlers == handlers
    assert c.shell_factory is factory and c.timeout_ms == 7000
    assert c.data_path == "build/tmp_console"
