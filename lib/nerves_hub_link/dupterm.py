"""The board's own REPL as the remote console, through ``os.dupterm`` (ESP32, RP2).

``DuptermStream`` is the stream MicroPython's terminal duplication needs: ``readinto``
returns None when no input is waiting (0 would detach the slot), ``write`` only appends to
a bounded buffer (a blocking write would stall the VM; the oldest bytes are dropped and
counted), ``ioctl`` answers polls. ``DuptermShell(write)`` is a console shell (see
``console.Console``): ``start()`` puts the stream into slot ``index`` and keeps the
previous occupant (webrepl), ``feed(text)`` queues keystrokes, an asyncio task forwards the
REPL's output to ``write`` every ``DRAIN_MS``, ``close()`` restores the previous slot.

The board REPL reads input only while it is waiting at its prompt, so the link must run
beside it (e.g. in a ``_thread`` started from ``boot.py``) for this shell to answer. The
unix port has no ``os.dupterm``: there, and by default everywhere, the console uses
``repl.Repl``. Use: ``console.attach(link, shell_factory=dupterm.DuptermShell)``.

Largest buffers: ``MAX_IN`` bytes of queued input, ``MAX_OUT`` bytes of output.
"""

import io

from nerves_hub_link.errors import NervesHubError

MAX_IN = 1024
MAX_OUT = 4096
DRAIN_MS = 50
_POLL = 3  # MP_STREAM_POLL
_POLL_RD = 1
_POLL_WR = 4


class DuptermStream(io.IOBase):
    """Non-blocking stream between ``os.dupterm`` and the console."""

    def __init__(self, max_in=MAX_IN, max_out=MAX_OUT):
        self._in = bytearray()
        self._out = bytearray()
        self.max_in = max_in
        self.max_out = max_out
        self.dropped_in = 0
        self.dropped_out = 0

    def feed(self, data):
        """Queue input for the REPL (str or bytes)."""
        if isinstance(data, str):
            data = data.encode()
        self._in += data
        extra = len(self._in) - self.max_in
        if extra > 0:
            self._in = self._in[extra:]
            self.dropped_in += extra

    def readinto(self, buf):
        n = min(len(buf), len(self._in))
        if n == 0:
            return None  # nothing waiting; 0 would mean EOF and detach the slot
        buf[:n] = self._in[:n]
        self._in = self._in[n:]
        return n

    def write(self, buf):
        n = len(buf)
        self._out += buf
        extra = len(self._out) - self.max_out
        if extra > 0:
            self._out = self._out[extra:]
            self.dropped_out += extra
        return n

    def ioctl(self, op, arg):
        if op == _POLL:
            return (arg & _POLL_RD if self._in else 0) | (arg & _POLL_WR)
        return 0

    def take(self):
        """The output written so far as text (an incomplete UTF-8 tail is kept)."""
        out = self._out
        if not out:
            return ""
        cut = len(out)
        # keep a multi-byte sequence cut at the end for the next take
        i = cut - 1
        while i >= 0 and i >= cut - 3 and out[i] & 0xC0 == 0x80:
            i -= 1
        if i >= 0 and out[i] >= 0xC0:
            need = 2 if out[i] < 0xE0 else 3 if out[i] < 0xF0 else 4
            if cut - i < need:
                cut = i
        text = bytes(out[:cut])
        self._out = out[cut:]
        try:
            return text.decode()
        except UnicodeError:
            return "".join([chr(b) if b < 128 else "?" for b in text])


def _os():
    import os

    return os


class DuptermShell:
    """A console shell backed by the board REPL through ``os.dupterm``."""

    def __init__(self, write, os_module=None, index=0, drain_ms=DRAIN_MS):
        self._write = write
        self.os = os_module if os_module is not None else _os()
        if not hasattr(self.os, "dupterm"):
            raise NervesHubError("this port has no os.dupterm",
                                 hint="use the default Python REPL shell (repl.Repl)")
        self.index = index
        self.drain_ms = drain_ms
        self.stream = DuptermStream()
        self.previous = None
        self.stopped = False
        self._attached = False
        self._task = None

    def start(self):
        self.previous = self.os.dupterm(self.stream, self.index)
        self._attached = True
        import asyncio

        coro = self._drain()
        try:
            self._task = asyncio.create_task(coro)
        except RuntimeError:  # no running loop (tests drive drain() themselves)
            coro.close()
            self._task = None
        self._write("\r\n")  # the REPL prints its prompt on the next input

    def feed(self, text):
        self.stream.feed(text)
        notify = getattr(self.os, "dupterm_notify", None)
        if notify is not None:
            notify(None)

    def drain(self):
        """Forward pending REPL output; returns the text forwarded."""
        text = self.stream.take()
        if text:
            self._write(text)
        return text

    async def _drain(self):
        import asyncio

        while not self.stopped:
            self.drain()
            await asyncio.sleep(self.drain_ms / 1000)

    def close(self):
        """Give the slot back to whoever had it (webrepl, or nobody)."""
        if self._attached:
            self.os.dupterm(self.previous, self.index)
            self._attached = False
        self.stopped = True
        if self._task is not None:
            self._task.cancel()
            self._task = None
