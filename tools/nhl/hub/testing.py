"""Test and benchmark helpers: the simulator in a background thread, devices as subprocesses.

``HubThread(dir)`` runs a :class:`Hub` on its own event loop in a daemon thread (TLS, admin
and plain listeners on ephemeral 127.0.0.1 ports). ``DeviceProcess`` starts
``nhl device`` (CPython) or ``boards/unix/main.py`` (MicroPython) and collects its
``nhl: ...`` lines. Every wait takes a deadline; nothing sleeps for timing.
"""

import asyncio
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


class HubThread:
    def __init__(self, hub_dir, plain=False):
        from nhl.hub import load

        self.dir = hub_dir
        self.lines = []
        self.loop = asyncio.new_event_loop()
        self.hub = load(hub_dir, allow_anonymous=plain, log=self.lines.append)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.ports = self.call(self.hub.start("127.0.0.1", tls_port=0, admin_port=0,
                                              plain_port=0 if plain else None))

    def call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn, *args):
        """Run a plain function on the hub loop (to read or change state safely)."""
        async def wrap():
            return fn(*args)
        return self.call(wrap())

    def wait(self, predicate, timeout=10, what="condition"):
        """Block until ``predicate(state)`` is true on the hub loop."""
        state = self.hub.state
        try:
            self.call(state.wait_for(lambda: predicate(state), timeout), timeout + 5)
        except (asyncio.TimeoutError, TimeoutError):
            raise AssertionError("hub: timed out after %ss waiting for %s; hub log:\n%s"
                                 % (timeout, what, "\n".join(self.lines[-20:])))

    def device(self, ident):
        return self.run(lambda: self.hub.state.devices.get(ident))

    def messages(self, ident, event=None, topic="device"):
        def get():
            rec = self.hub.state.devices.get(ident)
            msgs = list(rec.messages) if rec else []
            return [m for m in msgs if m.get("kind") == "frame"
                    and (event is None or (m["event"] == event and m["topic"] == topic))]
        return self.run(get)

    def stop(self):
        try:
            self.call(self.hub.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


def device_config(hub_thread, tmp_dir, name, auth="certificate", identifier="device-1", **extra):
    """Write a device config file for *hub_thread* into *tmp_dir*; returns its path."""
    from nhl.hub import device_config as base_config

    cfg = base_config(hub_thread.dir, identifier, os.path.join(tmp_dir, "data-" + name), auth,
                      hub_thread.ports["tls"])
    for k in ("ca_certs", "cert", "key"):
        if k in cfg:
            cfg[k] = os.path.join(hub_thread.dir, cfg[k])
    cfg["heartbeat_interval_ms"] = 200
    cfg["socket"] = {"reconnect_after_ms": [50, 100, 200]}
    cfg.update(extra)
    path = os.path.join(tmp_dir, name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def micropython_binary():
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    return cand if os.path.exists(cand) else "micropython"


class DeviceProcess:
    """A device subprocess (``interp`` = "cpython" or "micropython")."""

    def __init__(self, interp, config_path, extra_args=()):
        self.interp = interp
        env = dict(os.environ)
        if interp == "cpython":
            env["PYTHONPATH"] = os.pathsep.join(
                os.path.join(ROOT, p) for p in ("lib", "port_cpython", "tools"))
            cmd = [sys.executable, "-u", "-m", "nhl", "device", "--config", config_path,
                   "--on-reboot", "exit"]
        else:
            env["MICROPYPATH"] = "lib:boards/unix:.frozen"
            cmd = [micropython_binary(), "boards/unix/main.py", "--config", config_path,
                   "--on-reboot", "exit"]
        self.lines = []
        self._q = queue.Queue()
        self.proc = subprocess.Popen(list(cmd) + list(extra_args), cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()
        self._seen = 0

    def _pump(self):
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_line(self, pattern, timeout=10, after=None):
        """Wait for a line matching regex *pattern* (searching lines not yet consumed)."""
        rx = re.compile(pattern)
        start = self._seen if after is None else after
        deadline = time.monotonic() + timeout
        i = start
        while True:
            while i < len(self.lines):
                if rx.search(self.lines[i]):
                    self._seen = i + 1
                    return self.lines[i]
                i += 1
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self._q.put(None)
                break
            self.lines.append(line)
        raise AssertionError("%s device: no line matching %r within %ss; output:\n%s"
                             % (self.interp, pattern, timeout, "\n".join(self.lines[-40:])))

    def count(self, pattern):
        rx = re.compile(pattern)
        self._drain()
        return sum(1 for x in self.lines if rx.search(x))

    def _drain(self):
        while True:
            try:
                line = self._q.get_nowait()
            except queue.Empty:
                return
            if line is None:
                self._q.put(None)
                return
            self.lines.append(line)

    def wait_exit(self, timeout=10):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._drain()
