"""The ``console`` topic (spec 4.3, 10): a remote Python REPL and console file transfer.

``Console(push, ticks_ms, ...)`` is the session logic without I/O: ``handle(event, payload)``
for every server message on the topic, ``tick()`` for the inactivity timer
(``deadline()`` says when it is due), ``joined()`` when the topic is (re)joined.
``attach(link)`` wires one into a ``Link`` (done by the Link when ``remote_console`` is
set; ``remote_iex`` is accepted as an alias) and runs the timer as an asyncio task.

Server -> device: ``dn`` ``{"data"}`` keystrokes to the shell; ``window_size``
``{"height","width"}`` (kept in ``window``); ``restart`` (``RESTART_NOTICE``, then a fresh
shell); ``file-data/start``, ``file-data``, ``file-data/stop`` (uploads into
``data_path``, see ``file_transfer``). Any message while no shell runs starts one first.
Device -> server: ``up`` ``{"data"}`` shell output and notices; ``send_file(path)`` pushes
``file-data/*``.

Every ``dn``, ``window_size``, ``restart`` and every output restarts the inactivity timer
(``timeout_ms``, default 300 s); on expiry ``TIMEOUT_BANNER`` is pushed and the shell
stops (its namespace is dropped). A disconnect does not stop the shell: output produced
while the topic is not joined is kept (up to ``MAX_PENDING`` characters, oldest dropped
and counted) and pushed after the rejoin.

The shell is a ``repl.Repl`` by default; ``shell_factory(write)`` may return any object
with ``start()``, ``feed(text)`` and ``stopped`` (e.g. ``dupterm.DuptermShell`` on boards).

Largest buffers: output gathered while handling one message (pushed in ``MAX_UP``-character
``up`` messages), ``MAX_PENDING`` characters kept offline, the shell's own buffers.
"""

from nerves_hub_link import log
from nerves_hub_link.errors import NervesHubError

TIMEOUT_MS = 300000
MAX_UP = 1024
MAX_PENDING = 8192
TIMEOUT_BANNER = (
    "\r\n****************************************\r\n"
    "*   Session timeout due to inactivity  *\r\n"
    "*                                      *\r\n"
    "*   Press any key to continue...       *\r\n"
    "****************************************\r\n")
RESTART_NOTICE = "\r*** Restarting IEx ***\r"
STOPPED_NOTICE = "\r******* Remote IEx stopped: %s *******\r"
_ACTIVITY = ("dn", "window_size", "restart")


def _banner():
    import sys

    impl = sys.implementation
    v = impl.version
    return "nerves_hub_link console: %s %d.%d.%d on %s" % (
        impl.name, v[0], v[1], v[2], sys.platform)


class Console:
    """See the module docstring. ``push(event, payload)`` returns None when dropped."""

    def __init__(self, push, ticks_ms, timeout_ms=TIMEOUT_MS, data_path=None,
                 shell_factory=None, max_upload=None, namespace=None):
        self._push = push
        self._ticks = ticks_ms
        self.timeout_ms = timeout_ms
        self.data_path = data_path
        self.shell_factory = shell_factory or self._repl
        self.namespace = namespace or {}  # names every fresh REPL starts with
        self.max_upload = max_upload
        self.shell = None
        self.window = None  # (height, width) from the last window_size
        self.receiver = None
        self.pending = []  # output not pushed yet (offline)
        self.pending_chars = 0
        self.dropped_chars = 0
        self.sessions = 0
        self._out = []
        self._out_chars = 0
        self._deadline = None
        self._timed_out = False
        self._busy = False  # inside handle(): output is gathered
        self._on_change = None  # called when the deadline moves (the timer task's wake-up)

    # ---- state --------------------------------------------------------------------------

    def running(self):
        """True while a shell runs."""
        return self.shell is not None and not self.shell.stopped

    def deadline(self):
        """ticks_ms at which ``tick`` will time the session out, or None."""
        return self._deadline if self.running() else None

    def _touch(self):
        self._deadline = self._ticks() + self.timeout_ms
        if self._on_change is not None:
            self._on_change()

    # ---- output -------------------------------------------------------------------------

    def _write(self, text):
        """Shell output: gathered, pushed at the end of the current message."""
        if not text:
            return
        self._out.append(text)
        self._out_chars += len(text)
        if self._out_chars >= MAX_UP or not self._busy:
            self._flush_out()  # outside handle(): output from a task, push now

    def _flush_out(self):
        if not self._out:
            return
        text = "".join(self._out)
        self._out = []
        self._out_chars = 0
        self._up(text)
        if self.running():
            self._touch()

    def _up(self, text):
        for i in range(0, len(text), MAX_UP):
            part = text[i:i + MAX_UP]
            if self.pending or self._push("up", {"data": part}) is None:
                self._keep(part)

    def _keep(self, part):
        self.pending.append(part)
        self.pending_chars += len(part)
        while self.pending_chars > MAX_PENDING and self.pending:
            old = self.pending.pop(0)
            self.pending_chars -= len(old)
            self.dropped_chars += len(old)

    def joined(self):
        """The topic is (re)joined: push kept output, start a shell if none runs."""
        if self.pending:
            kept, self.pending, self.pending_chars = self.pending, [], 0
            if self.dropped_chars:
                kept.insert(0, "\r\n[%d characters of console output dropped]\r\n"
                            % self.dropped_chars)
                self.dropped_chars = 0
            for part in kept:
                self._up(part)
        if not self.running():
            self._busy = True
            try:
                self.start()
            finally:
                self._busy = False
                self._flush_out()

    # ---- shell lifecycle ----------------------------------------------------------------

    def _repl(self, write):
        from nerves_hub_link.repl import Repl

        return Repl(write, namespace=dict(self.namespace), banner=_banner())

    def start(self):
        """Start a fresh shell (and its inactivity timer)."""
        self.shell = self.shell_factory(self._write)
        self._timed_out = False
        self.sessions += 1
        self._touch()
        self.shell.start()

    def stop(self):
        """Stop the shell and drop an unfinished upload."""
        if self.receiver is not None:
            self.receiver.abort()
        close = getattr(self.shell, "close", None)
        if close is not None:
            close()
        self.shell = None
        self._deadline = None

    def tick(self):
        """Time the session out if it was inactive for ``timeout_ms``; True if it did."""
        if not self.running() or self._ticks() - self._deadline < 0:
            return False
        log.state("console", "session timeout after %d s of inactivity"
                  % (self.timeout_ms // 1000))
        self.stop()
        self._timed_out = True
        self._up(TIMEOUT_BANNER)
        return True

    # ---- server messages ----------------------------------------------------------------

    def handle(self, event, payload):
        """One server message on the console topic."""
        if not isinstance(payload, dict):
            payload = {}
        self._busy = True
        try:
            if event == "restart":
                self.stop()
                self._up(RESTART_NOTICE)
            woke = False
            if not self.running():
                woke = self._timed_out
                self.start()
            if event in _ACTIVITY:
                self._touch()
            if event == "dn":
                data = payload.get("data")
                if isinstance(data, str) and not woke:  # "press any key" consumes the key
                    self.shell.feed(data)
                    if self.shell.stopped:
                        self._write(STOPPED_NOTICE % "SystemExit")
                        self.start()
            elif event == "window_size":
                self._window(payload)
            elif event.startswith("file-data"):
                self._file(event, payload)
            elif event != "restart":
                log.warning("console: unknown event %r ignored", event)
        finally:
            self._busy = False
            self._flush_out()

    def _window(self, payload):
        h, w = payload.get("height"), payload.get("width")
        if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
            self.window = (h, w)

    def _file(self, event, payload):
        name = payload.get("filename")
        try:
            if event == "file-data/start":
                if self.receiver is None:
                    from nerves_hub_link.file_transfer import MAX_UPLOAD, Receiver

                    self.receiver = Receiver(self.data_path or ".",
                                             self.max_upload or MAX_UPLOAD)
                self.receiver.start(name)
            elif self.receiver is None:
                raise NervesHubError("%s for %r without file-data/start" % (event, name))
            elif event == "file-data":
                self.receiver.data(name, payload.get("data"))
            elif event == "file-data/stop":
                path, size = self.receiver.stop(name)
                self._write("\r\n[received %s: %d bytes]\r\n" % (path, size))
            else:
                log.warning("console: unknown event %r ignored", event)
        except NervesHubError as e:
            log.warning("console: %s", e)
            self._write("\r\n[%s]\r\n" % e)


class _Wiring:
    """Connects a Console to a Link: handlers, the timer task, ``send_file``."""

    def __init__(self, link, console):
        self.link = link
        self.console = console
        self._task = None
        self._wake = None
        self._upload = None
        console._on_change = self._changed

    def _changed(self):
        if self._wake is not None:
            self._wake.set()

    def _ensure_timer(self):
        import asyncio

        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._timer())

    async def _timer(self):
        import asyncio

        c = self.console
        while True:
            d = c.deadline()
            self._wake.clear()
            if d is None:
                await self._wake.wait()
                continue
            left = d - self.link.hal.ticks_ms()
            if left > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), min(left, 60000) / 1000)
                except asyncio.TimeoutError:
                    pass
                continue
            c.tick()
            self._sync()

    def _sync(self):
        self.link.console_active_flag = self.console.running()

    def on_message(self, event, payload):
        self._ensure_timer()
        self.console.handle(event, payload)
        self._sync()

    def on_joined(self, event, payload):
        self._ensure_timer()
        self.console.joined()
        self._sync()

    def send_file(self, path):
        """Start uploading *path* to the web console; returns the asyncio task."""
        import asyncio

        from nerves_hub_link.file_transfer import file_size, send_file

        file_size(path)  # refuse now, not inside the task
        if "console" not in self.link.status()["joined"]:
            raise NervesHubError("send_file %s: the console topic is not joined" % path,
                                 hint="enable remote_console and wait for the connection")
        self.cancel_upload()
        link = self.link

        def push(event, payload):
            return link.push("console", event, payload)

        self._upload = asyncio.create_task(send_file(path, push, link.flush))
        return self._upload

    def cancel_upload(self):
        if self._upload is not None and not self._upload.done():
            self._upload.cancel()
        self._upload = None


def attach(link, timeout_ms=None, data_path=None, shell_factory=None, max_upload=None):
    """Serve the console topic on *link*; returns the ``Console``.

    Defaults come from the link's config (``remote_console_timeout_s``, ``data_path``).
    Each fresh REPL starts with ``link`` and ``send_file`` defined. Called again on the
    same link, it only changes the options given (e.g. a dupterm ``shell_factory``).
    ``link.console`` is the Console and ``link.send_file(path)`` / ``link.cancel_upload()``
    upload a file to the web console.
    """
    cfg = link.config
    old = getattr(link, "console", None)
    if isinstance(old, Console):  # already attached (by the Link): new options only
        for name, value in (("timeout_ms", timeout_ms), ("data_path", data_path),
                            ("shell_factory", shell_factory), ("max_upload", max_upload)):
            if value is not None:
                setattr(old, name, value)
        return old
    if timeout_ms is None:
        timeout_ms = getattr(cfg, "remote_console_timeout_s", TIMEOUT_MS // 1000) * 1000
    console = Console(lambda event, payload: link.push("console", event, payload),
                      link.hal.ticks_ms, timeout_ms,
                      data_path if data_path is not None else getattr(cfg, "data_path", None),
                      shell_factory, max_upload)
    wiring = _Wiring(link, console)
    console.namespace = {"link": link, "send_file": wiring.send_file}
    link.on("console", "*", wiring.on_message)
    link.on("console", "joined", wiring.on_joined)
    link.console = console
    link.send_file = wiring.send_file
    link.cancel_upload = wiring.cancel_upload
    return console
