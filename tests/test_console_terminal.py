"""`nhl hub console DEVICE` in a real pseudo-terminal: raw mode (the device echoes, the host
does not), keystrokes as dn, window size, up output, Ctrl-] quits; `nhl hub upload`."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
from nhl.hub import init_dir
from nhl.hub.testing import ROOT, DeviceProcess, HubThread, device_config

DEV = "device-1"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("hub"))
    init_dir(d, devices=(DEV,))
    hub = HubThread(d)
    tmp = str(tmp_path_factory.mktemp("dev"))
    dev = DeviceProcess("cpython", device_config(hub, tmp, "term", remote_console=True))
    dev.wait_line(r"^nhl: joined: console$", timeout=20)
    yield hub, dev, tmp
    dev.stop()
    hub.stop()


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(os.path.join(ROOT, p)
                                        for p in ("lib", "port_cpython", "tools"))
    return env


class PtyProc:
    def __init__(self, args, rows=30, cols=100):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=_env(),
                                     cwd=ROOT, start_new_session=True)
        os.close(slave)
        self.out = b""

    def expect(self, text, timeout=15):
        want = text.encode()
        deadline = time.monotonic() + timeout
        while want not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r within %ss; got %r" % (text, timeout, self.out[-600:]))
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError("terminal closed before %r; got %r" % (text, self.out))
                self.out += chunk
        return self.out

    def send(self, data):
        os.write(self.master, data)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self.master)


def test_interactive_console_through_a_pty(setup):
    hub, dev, tmp = setup
    admin = "http://127.0.0.1:%d" % hub.ports["admin"]
    p = PtyProc([sys.executable, "-m", "nhl", "hub", "--admin", admin, "console", DEV])
    try:
        p.expect("nhl hub console: %s (Ctrl-] quits)" % DEV)
        p.expect("[device console connected]")
        p.send(b"21 * 2\r")
        p.expect("21 * 2\r\n42\r\n>>> ")
        assert p.out.count(b"21 * 2") == 1  # raw mode: only the device echoes
        p.send(b"link.console.window\r")
        p.expect("(30, 100)")
        p.send(b"undefined_name\r")
        p.expect("NameError")
        p.send(b"\x1d")
        assert p.proc.wait(10) == 0
    finally:
        p.close()


def test_console_reports_an_unreachable_simulator():
    p = PtyProc([sys.executable, "-m", "nhl", "hub", "--admin", "http://127.0.0.1:9",
                 "console", DEV])
    try:
        p.expect("cannot reach the simulator")
        assert p.proc.wait(10) == 1
    finally:
        p.close()


def test_upload_command_puts_a_file_in_data_path(setup, tmp_path):
    hub, dev, tmp = setup
    src = tmp_path / "notes.txt"
    src.write_bytes(os.urandom(3000))
    admin = "http://127.0.0.1:%d" % hub.ports["admin"]
    r = subprocess.run([sys.executable, "-m", "nhl", "hub", "--admin", admin, "upload", DEV,
                        str(src)], env=_env(), cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "3000 bytes in 3 chunks" in r.stdout
    relay = hub.hub.console
    hub.wait(lambda s: "notes.txt: 3000 bytes]" in relay.device(DEV).scrollback(), 20,
             what="upload received")
    assert (open(os.path.join(tmp, "data-term", "notes.txt"), "rb").read()
            == src.read_bytes())
