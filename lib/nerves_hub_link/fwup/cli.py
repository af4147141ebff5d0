"""fwup-compatible command line: ``python -m nerves_hub_link.fwup`` / ``micropython -m ...``.

Apply ``-a -d OUT -i FW -t TASK [-p KEYFILE] [--public-key B64] [-F] [-q] [-n] [--unsafe]``,
verify ``-V``, metadata ``-m [--metadata-key K]``, list ``-l``; ``-i -`` reads stdin (framed
packets with ``-F``). Create/sign/genkey flags are passed to ``nerves_hub_link.fwup.create``.
Errors are printed as ``fwup: <text>`` on stdout (``ER`` frames with ``-F``); exit 0 or 1.
Largest buffer: one 16 KiB input piece (framed input: one packet).
"""

import sys

from nerves_hub_link.errors import NervesHubError

READ_SIZE = 16384  # fwup's read size: gives fwup's progress steps
MP_READ_SIZE = 4096
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


def _unload(name):
    from nerves_hub_link.fwup.applier import unload

    unload(name)


def _keys(opts):
    out = _read_keys(opts)
    _unload("nerves_hub_link.fwup.keys")
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


def _read_exact(f, n):
    buf = bytearray()
    while len(buf) < n:
        d = f.read(n - len(buf))
        if not d:
            return bytes(buf)
        buf.extend(d)
    return bytes(buf)


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
    """Yield input pieces: file reads into one fixed buffer (16 KiB; 4 KiB on MicroPython), or
    framed packet payloads (each one piece on CPython, as fwup; buffer-sized on MicroPython)."""
    import gc

    gc.collect()
    mp = sys.implementation.name == "micropython"
    buf = bytearray(MP_READ_SIZE if mp else READ_SIZE)
    mv = memoryview(buf)
    if framed:
        import struct

        from nerves_hub_link.errors import FwupError

        while True:
            k = _read_into(f, mv[:4])
            if not k:
                return
            if k < 4:
                raise FwupError("Received EOF even though framing indicated more bytes")
            n = struct.unpack(">I", buf[:4])[0]
            if n == 0:
                return
            while n:
                want = min(n, len(buf) if mp else MAX_PACKET)
                if mp:
                    d = mv[:_read_into(f, mv[:want])]
                else:
                    d = _read_exact(f, want)
                if len(d) < want:
                    raise FwupError("Received EOF even though framing indicated more bytes")
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
    for piece in _pieces(f, framed):
        app.feed(piece)
        if app.done:
            return
    app.finish()


def _apply(opts, out):
    from nerves_hub_link.fwup.applier import Applier
    from nerves_hub_link.fwup.blockdev import FileBlockDevice

    if "device" not in opts:
        raise NervesHubError("Specify an output (-d)")
    if "input" not in opts:
        raise NervesHubError("Specify an input firmware file (-i)")
    task = opts.get("task", "complete")
    keys = _keys(opts)
    low = int(opts.get("progress_low", 0))
    high = int(opts.get("progress_high", 100))
    out.event("PR", low, "")
    f, framed = _open_input(opts["input"], opts.get("framing"))
    dev = FileBlockDevice(opts["device"], create=True)
    try:
        app = Applier(dev, task, public_keys=keys, env=_env(), events=_skip_first_pr(out),
                      fw_name=opts["input"], unsafe=bool(opts.get("unsafe")),
                      progress_low=low, progress_high=high)
        _run_archive(app, f, framed)
    finally:
        dev.close()
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


def _preload():
    """MicroPython: compile the BLAKE2b code while the heap is empty (its set-up is the peak
    of a run) and reserve the deflate window before the heap fragments."""
    if sys.implementation.name == "micropython":
        from nerves_hub_link.crypto import blake2b  # noqa: F401
    from nerves_hub_link.fwup import zipstream

    zipstream.reserve_window()


def main(argv=None):
    """Run fwup with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    _preload()
    from nerves_hub_link import hal

    hal.install_port()
    from nerves_hub_link.fwup import cli_args

    try:
        opts = cli_args.parse_args(argv)
    except cli_args.UsageError as e:
        print("fwup: %s" % e)
        return 1
    finally:
        cli_args = None  # noqa: F841
        _unload("nerves_hub_link.fwup.cli_args")
    if opts.get("create") or opts.get("sign") or opts.get("gen_keys"):
        from nerves_hub_link.fwup import cli_info

        return cli_info.create(opts)
    if opts.get("version"):
        from nerves_hub_link.fwup import FWUP_VERSION

        print(FWUP_VERSION)
        return 0
    out = _Out(opts.get("framing"), opts.get("quiet"), opts.get("numeric"))
    try:
        if opts.get("apply"):
            _apply(opts, out)
        elif opts.get("verify") or opts.get("metadata") or opts.get("list"):
            from nerves_hub_link.fwup import cli_info

            cli_info.run(opts, out)
        else:
            raise NervesHubError("Specify -a (apply), -V (verify), -m (metadata), -l (list), "
                                 "-c (create), -S (sign) or -g (generate keys)")
    except NervesHubError as e:
        out.event("ER", 0, e.message)
        out.flush()
        return 1
    out.flush()
    return 0
