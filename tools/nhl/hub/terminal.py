"""`nhl hub console DEVICE`: the device's remote console in the host terminal.

Connects to the simulator's admin websocket ``/admin/devices/{id}/console/ws``, puts the
terminal in raw mode (when stdin is a terminal), forwards keystrokes as ``dn``, the
terminal size as ``window_size`` (again on every resize) and prints the device's ``up``
output. Ctrl-] quits; so does the end of stdin when it is not a terminal.
"""

import asyncio
import codecs
import json
import os
import signal
import sys

QUIT = b"\x1d"  # Ctrl-]


def _size(fd):
    try:
        s = os.get_terminal_size(fd)
        return {"height": s.lines, "width": s.columns}
    except OSError:
        return None


class _Terminal:
    """Raw mode on a tty, restored on exit."""

    def __init__(self, fd):
        self.fd = fd
        self.saved = None

    def __enter__(self):
        if os.isatty(self.fd):
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def _out(data):
    sys.stdout.buffer.write(data.encode("utf-8", "replace") if isinstance(data, str) else data)
    sys.stdout.buffer.flush()


async def session(admin_url, device, stdin_fd=0):
    """Run the interactive session; returns an exit code."""
    import aiohttp

    url = "%s/admin/devices/%s/console/ws" % (admin_url.rstrip("/"), device)
    loop = asyncio.get_running_loop()
    keys = asyncio.Queue()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    tty = os.isatty(stdin_fd)

    def readable():
        """Queue what stdin has; False once it ended (or Ctrl-] was read)."""
        try:
            data = os.read(stdin_fd, 1024)
        except OSError:
            data = b""
        if not data:
            keys.put_nowait(None)
            return False
        cut = data.find(QUIT)
        if cut >= 0:
            if cut:
                keys.put_nowait(decoder.decode(data[:cut]))
            keys.put_nowait(None)
            return False
        text = decoder.decode(data)
        if text:
            keys.put_nowait(text)
        return True

    def pump():
        if readable():
            loop.call_soon(pump)

    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(url)
        except aiohttp.ClientError as e:
            print("nhl hub console: cannot reach the simulator at %s: %s" % (admin_url, e),
                  file=sys.stderr)
            return 1
        async with ws:
            _out("nhl hub console: %s (Ctrl-] quits)\r\n" % device)

            async def send(event, payload):
                await ws.send_str(json.dumps({"event": event, "payload": payload}))

            async def window():
                size = _size(stdin_fd) if tty else None
                if size:
                    await send("window_size", size)

            async def forward():
                while True:
                    text = await keys.get()
                    if text is None:
                        return
                    await send("dn", {"data": text})

            async def receive():
                async for msg in ws:
                    m = json.loads(msg.data)
                    ev = m.get("event")
                    if ev == "up":
                        _out(m["data"])
                    elif ev == "device":
                        if m.get("connected"):
                            _out("[device console connected]\r\n")
                            await window()
                        else:
                            _out("\r\n[device offline: waiting for it to reconnect]\r\n")
                    elif ev == "file":
                        _out("\r\n[file %s %s]\r\n" % (m.get("name"), m.get("state")))
                    elif ev == "error":
                        _out("\r\n[hub: %s]\r\n" % m.get("reason"))

            try:
                loop.add_reader(stdin_fd, readable)
                watching = True
            except PermissionError:  # a regular file or /dev/null: epoll refuses it, and
                watching = False     # its reads never block, so read it in loop turns
                loop.call_soon(pump)
            if tty:
                loop.add_signal_handler(signal.SIGWINCH,
                                        lambda: asyncio.ensure_future(window()))
            fwd = asyncio.ensure_future(forward())
            rcv = asyncio.ensure_future(receive())
            try:
                done, _ = await asyncio.wait({fwd, rcv}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if watching:
                    loop.remove_reader(stdin_fd)
                if tty:
                    loop.remove_signal_handler(signal.SIGWINCH)
                for t in (fwd, rcv):
                    t.cancel()
            if rcv in done and fwd not in done:
                _out("\r\n[the simulator closed the console]\r\n")
                return 1
    _out("\r\n")
    return 0


def run(admin_url, device):
    """Blocking entry point for ``nhl hub console``."""
    fd = sys.stdin.fileno()
    with _Terminal(fd):
        return asyncio.run(session(admin_url, device, fd))
