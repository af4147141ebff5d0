"""The streaming half of the fwup command line: ``apply(opts, out)`` and the input readers
(also used by ``cli_info``). Split from ``cli`` so ``python -m nerves_hub_link.fwup -a`` can
drop the argument handling while data streams (``__main__``). Largest buffer: one 16 KiB
input piece (2 KiB on MicroPython; framed input: one packet).
"""

import sys

from nerves_hub_link.errors import NervesHubError

READ_SIZE = 16384  # fwup's read size: gives fwup's progress steps
MP_READ_SIZE = 2048
MAX_PACKET = 1 << 20


class _Out:
    """Writes events as frames (-F) or fwup's text lines."""

    def __init__(self, framing, quiet, numeric):
        self.framing = framing
        self.quiet = quiet
        self.numeric = numeric
        self.stdout = getattr(sys.stdout, "buffer", sys.stdout)

    def write(self, b):
        self.stdout.write(b)

    def event(self, ftype, code, text):
        if self.framing:
            from nerves_hub_link.fwup.framing import frame

            self.write(frame(ftype, code, text))
        elif ftype == "PR":
            if self.numeric and not self.quiet:
                self.write(("%d\n" % code).encode())
        elif ftype in ("WN", "ER"):
            self.write(("fwup: %s\n" % text).encode("utf-8"))
        if ftype == "ER" and not self.framing and not self.quiet:
            sys.stderr.write("\n")

    def ok(self, text=""):
        if self.framing:
            from nerves_hub_link.fwup.framing import frame

            self.write(frame("OK", 0, text))
        elif text:
            self.write(text.encode("utf-8"))

    def flush(self):
        try:
            self.stdout.flush()
        except AttributeError:
            pass


def _env():
    try:
        import os  # portable: ok

        env = getattr(os, "environ", None)
        if env is not None:
            return dict(env)
        return getattr(os, "getenv", None)
    except ImportError:
        return None


def _keys(opts):
    out = _read_keys(opts)
    unload("nerves_hub_link.fwup.keys")
    return out


def _read_keys(opts):
    from nerves_hub_link.fwup import keys

    out = []
    for path in opts["public_key_file"]:
        try:
            out.append(keys.read_public_file(path))
        except OSError:
            raise NervesHubError("Error reading public key from file '%s'" % path)
    for text in opts["public_key"]:
        out.append(keys.decode_public(text))
    return out[:keys.MAX_KEYS]


def _open_input(path, framing):
    if path == "-":
        stdin = getattr(sys.stdin, "buffer", sys.stdin)
        return stdin, framing
    try:
        return open(path, "rb"), False
    except OSError:
        raise NervesHubError("Cannot open '%s'" % path)


def close_input(path, f):
    """Close what ``_open_input`` opened (stdin stays open)."""
    if path != "-":
        f.close()


def _read_into(f, mv):
    """Fill ``mv`` from ``f``; returns the count (short only at EOF)."""
    readinto = getattr(f, "readinto", None)
    got = 0
    n = len(mv)
    while got < n:
        if readinto is not None:
            k = readinto(mv[got:])
        else:
            d = f.read(n - got)
            k = len(d) if d else 0
            mv[got:got + k] = d
        if not k:
            break
        got += k
    return got


def _pieces(f, framed):
    """Yield input pieces: file reads into one fixed buffer (16 KiB; 2 KiB on MicroPython), or
    framed packet payloads (each one piece on CPython, as fwup; buffer-sized on MicroPython)."""
    import gc

    gc.collect()
    mp = sys.implementation.name == "micropython"
    buf = bytearray(MP_READ_SIZE if mp else READ_SIZE)
    mv = memoryview(buf)
    if framed:
        import struct

        from nerves_hub_link.errors import ArchiveError

        while True:
            k = _read_into(f, mv[:4])
            if not k:
                return
            if k < 4:
                raise ArchiveError("Received EOF even though framing indicated more bytes")
            n = struct.unpack(">I", buf[:4])[0]
            if n == 0:
                return
            while n:
                want = min(n, len(buf) if mp else MAX_PACKET)
                # CPython: the packet in one piece (fwup's progress steps), sized once
                d = mv[:want] if mp else memoryview(bytearray(want))
                d = d[:_read_into(f, d)]
                if len(d) < want:
                    raise ArchiveError("Received EOF even though framing indicated more bytes")
                yield d
                n -= want
    readinto = getattr(f, "readinto", None)
    while True:
        if readinto is not None:
            n = readinto(buf)
            if not n:
                return
            # short reads (pipes) are passed on as they come
            yield mv[:n]
        else:
            d = f.read(len(buf))
            if not d:
                return
            yield d


def _run_archive(app, f, framed):
    try:
        for piece in _pieces(f, framed):
            app.feed(piece)
            if app.done:
                return
    except OSError as e:  # the applier turns output errors into BlockDeviceError: this is input
        from nerves_hub_link.errors import FwupError

        raise FwupError("Error reading the input: %r" % (e,))
    app.finish()


def apply(opts, out):
    """fwup -a: apply ``opts['input']`` to ``opts['device']``; raises ``NervesHubError``."""
    from nerves_hub_link.fwup.applier import Applier
    from nerves_hub_link.fwup.blockdev import FileBlockDevice

    if "device" not in opts:
        raise NervesHubError("Specify an output (-d)")
    if "input" not in opts:
        raise NervesHubError("Specify an input firmware file (-i)")
    task = opts.get("task", "complete")
    keys = _keys(opts)
    try:
        low = int(opts.get("progress_low", 0))
        high = int(opts.get("progress_high", 100))
    except ValueError:
        raise NervesHubError("--progress-low/--progress-high take integers, got %r and %r"
                             % (opts.get("progress_low"), opts.get("progress_high")))
    out.event("PR", low, "")
    f, framed = _open_input(opts["input"], opts.get("framing"))
    try:
        dev = FileBlockDevice(opts["device"], create=True)
        try:
            app = Applier(dev, task, public_keys=keys, env=_env(), events=_skip_first_pr(out),
                          fw_name=opts["input"], unsafe=bool(opts.get("unsafe")),
                          progress_low=low, progress_high=high)
            _run_archive(app, f, framed)
        finally:
            dev.close()
    finally:
        close_input(opts["input"], f)
    out.ok()
    if not opts.get("quiet") and not opts.get("framing"):
        out.write(b"Success!\n")


def _skip_first_pr(out):
    """The CLI already emitted the first progress value (before opening the output)."""
    state = [True]

    def ev(ftype, code, text):
        if state[0] and ftype == "PR":
            state[0] = False
            return
        out.event(ftype, code, text)

    return ev


def run(opts, out, action=None):
    """Run ``action(opts, out)`` (default: ``apply``) with fwup's error report; returns the
    exit status."""
    try:
        (action or apply)(opts, out)
    except NervesHubError as e:
        out.event("ER", 0, e.message)
        out.flush()
        return 1
    except MemoryError:  # outside the applier (which undoes its writes first)
        out.event("ER", 0, "Out of memory: the heap is too small for this archive")
        out.flush()
        return 1
    out.flush()
    return 0


def unload(name):
    from nerves_hub_link.fwup.applier import unload

    unload(name)
