"""Create and sign ``.fw`` archives the way fwup 1.16.0 does (``fwup -c``, ``-S``, ``-g``).

Library::

    info = create_archive("fwup.conf", "out.fw", private_key=None, sha256=False, level=9,
                          env=None, progress=None)
    info = sign_archive("in.fw", "out.fw", private_key, env=None)
    public32, private64 = generate_keys()

``private_key`` is the 64-byte key, its base64 text, or the path of a ``.priv`` file.
``env`` holds the variables ``${...}`` expands from (default: the process environment);
``SOURCE_DATE_EPOCH`` (else ``NOW``, else the clock) gives meta.conf's timestamp.
``sha256=True`` (or ``NHL_FWUP_SHA256=1`` in ``env``) adds ``sha256="<hex>"`` to every
file-resource in meta.conf so boards can verify with C SHA-256; nothing else changes.

CLI hooks (``python -m nerves_hub_link.fwup``): ``create_cmd``, ``sign_cmd``, ``genkey_cmd``
take the option dict described in their docstrings and return an exit code.

Output is byte-identical to fwup 1.16.0 + libarchive 3.6.2 on CPython (zlib deflate).
MicroPython has no compatible compressor: creating or signing raises ``FwupError`` there.
Largest buffer: one 64 KiB read chunk (plus zlib's own state); meta.conf text in RAM.
"""

from nerves_hub_link.errors import ConfigError, FwupError, NervesHubError
from nerves_hub_link.fwup import fwupconf, keygen, writer

CHUNK = 65536
SPARSE_MAP_MAX = 256
META_CONF_MAX = 50000
UUID_PREFIX = b"\x20\x53\xdf\xfb\xd5\x1e\x43\x10\xb9\x3b\x95\x6d\xa8\x9f\x9f\x34"


def generate_keys(seed=None):
    """New Ed25519 key pair ``(public32, private64)`` in fwup's layout."""
    return keygen.generate_keys(seed)


def _hex(data):
    return "".join(["%02x" % b for b in data])


def _blake2b():
    from nerves_hub_link.crypto import hashes

    return hashes.blake2b_256()


def _sha256():
    import hashlib

    return hashlib.sha256()


def meta_uuid(meta_conf):
    """fwup's meta-uuid of meta.conf bytes (spec 2.4)."""
    h = _blake2b()
    h.update(UUID_PREFIX)
    h.update(meta_conf)
    d = bytearray(h.digest()[:16])
    d[6] = (d[6] & 0x0F) | 0x50
    x = _hex(d)
    return "%s-%s-%s-%s-%s" % (x[:8], x[8:12], x[12:16], x[16:20], x[20:])


def _default_env():
    try:
        import os

        return dict(os.environ)
    except (ImportError, AttributeError):  # portable: ok
        return {}


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_now(s):
    """Unix time of a ``%Y-%m-%dT%H:%M:%SZ`` string, or None if it does not parse."""
    if len(s) != 20 or s[4] != "-" or s[7] != "-" or s[10] != "T" or s[13] != ":" \
            or s[16] != ":" or s[19] != "Z":
        return None
    try:
        y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
        h, mi, sec = int(s[11:13]), int(s[14:16]), int(s[17:19])
    except ValueError:
        return None
    return _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec


def creation_time(env):
    """meta.conf's mtime: $SOURCE_DATE_EPOCH, else $NOW, else the current time."""
    from nerves_hub_link.fwup import confuse

    sde = env.get("SOURCE_DATE_EPOCH")
    if sde is not None:
        return confuse.to_int(sde) & 0xFFFFFFFFFFFFFFFF
    now = env.get("NOW")
    if now is not None:
        t = parse_now(now)
        if t is not None:
            return t
    import time

    return int(time.time())


def _dos_time(t):
    import time

    try:
        tm = time.localtime(t)
    except (OverflowError, ValueError, OSError):
        return writer.DOS_EPOCH
    return writer.dos_datetime(tm)


def _private_key(key):
    """Key bytes from raw/base64 bytes, or a str that names a key file (or is base64)."""
    if key is None:
        return None
    if isinstance(key, str):
        try:
            return keygen.read_key_file(key, keygen.PRIVATE_LEN)
        except NervesHubError as e:
            try:
                return keygen.decode(key.encode(), keygen.PRIVATE_LEN, "private key")
            except NervesHubError:
                raise e
    return keygen.decode(key, keygen.PRIVATE_LEN, "private key")


def _opts_key(opts):
    # fwup's -s FILE arrives as private_key_file, --private-key STRING as private_key.
    path = opts.get("private_key_file")
    if path:
        return keygen.read_key_file(path, keygen.PRIVATE_LEN)
    return _private_key(opts.get("private_key"))


# ---- resources ---------------------------------------------------------------------------


def _host_paths(sec):
    hp = sec.values.get("host-path")
    paths = [fwupconf.relative_to(sec.src, p) for p in hp.split(";") if p]
    if not paths:
        raise ConfigError("%s: must specify a host-path for resource '%s'"
                          % (sec.where(), sec.title))
    return paths


def _open(sec, path):
    try:
        return open(path, "rb")
    except OSError as e:
        raise ConfigError("%s: can't open path '%s' in file-resource '%s': %s"
                          % (sec.where(), path, sec.title, e),
                          hint="host-path is relative to the directory of the config file")


def _add_to_map(f, sparse, fmap):
    """Extend the sparse map with one file, as fwup's sparse_file_build_map_from_fd does."""
    import os

    if fmap:
        i = len(fmap) - 1
        leftover = fmap.pop()
    else:
        i = 0
        leftover = 0
    fd = f.fileno()
    size = os.fstat(fd).st_size
    offset = 0
    nxt = 0
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if sparse and seek_data is not None:
        while i < SPARSE_MAP_MAX - 2:
            try:
                nxt = os.lseek(fd, offset, seek_data if i & 1 else seek_hole)
            except OSError:
                if size != offset:
                    fmap.append(size - offset + leftover)
                return
            if i >= 1 and offset == nxt and fmap[i - 1] == 0:
                return
            fmap.append(nxt - offset + leftover)
            leftover = 0
            offset = nxt
            i += 1
        if i & 1:
            fmap.append(nxt - offset + leftover)
            leftover = 0
            offset = nxt
            i += 1
    fmap.append(size - offset + leftover)


class _Concat:
    """Reads the concatenation of several host files; ``skip`` jumps over holes."""

    def __init__(self, sec, paths):
        self.sec = sec
        self.paths = paths
        self.ix = -1
        self.f = None

    def _next(self):
        if self.f is not None:
            self.f.close()
            self.f = None
        self.ix += 1
        if self.ix < len(self.paths):
            self.f = _open(self.sec, self.paths[self.ix])
            return True
        return False

    def read(self, n):
        while True:
            if self.f is None and not self._next():
                return b""
            data = self.f.read(n)
            if data:
                return data
            if not self._next():
                return b""

    def skip(self, n):
        import os

        while n > 0:
            if self.f is None and not self._next():
                return
            pos = self.f.tell()
            left = os.fstat(self.f.fileno()).st_size - pos
            step = n if n < left else left
            self.f.seek(pos + step)
            n -= step
            if n and not self._next():
                return

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None


def _iter_data(sec, res):
    """Yield the bytes a resource stores in the archive (data runs only), in CHUNK pieces."""
    if res["contents"] is not None:
        if res["contents"]:
            yield res["contents"]
        return
    src = _Concat(sec, res["paths"])
    try:
        for ix, length in enumerate(res["map"]):
            if ix & 1:
                src.skip(length)
                continue
            while length > 0:
                data = src.read(CHUNK if length > CHUNK else length)
                if not data:
                    raise FwupError("%s: file-resource '%s' is shorter than when it was measured"
                                    % (sec.where(), sec.title),
                                    hint="don't modify input files while creating the archive")
                length -= len(data)
                yield data
    finally:
        src.close()


def _measure(sec, sha256):
    """Map, hashes and sizes of one file-resource; sets length/blake2b-256 (and sha256)."""
    res = {"contents": None, "paths": None, "map": None}
    contents = sec.values.get("contents")
    if contents is not None:
        data = contents.encode("utf-8")
        nul = data.find(b"\x00")
        res["contents"] = data if nul < 0 else data[:nul]
        res["map"] = [len(res["contents"])]
    else:
        res["paths"] = _host_paths(sec)
        fmap = []
        sparse = sec.get("skip-holes")
        for p in res["paths"]:
            f = _open(sec, p)
            try:
                _add_to_map(f, sparse, fmap)
            finally:
                f.close()
        res["map"] = fmap
        total = 0
        for n in fmap:
            total += n
        gte = sec.get("assert-size-gte") * 512
        lte = sec.get("assert-size-lte") * 512
        if gte >= 0 and total < gte:
            raise ConfigError("%s: file size assertion failed on '%s'. Size is %d bytes. It must "
                              "be >= %d bytes (%d blocks)"
                              % (sec.where(), sec.values["host-path"], total, gte, gte // 512))
        if lte >= 0 and total > lte:
            raise ConfigError("%s: file size assertion failed on '%s'. Size is %d bytes. It must "
                              "be <= %d bytes (%d blocks)"
                              % (sec.where(), sec.values["host-path"], total, lte, lte // 512))
    data_size = 0
    for ix in range(0, len(res["map"]), 2):
        data_size += res["map"][ix]
    res["data_size"] = data_size
    h = _blake2b()
    s = _sha256() if sha256 else None
    for piece in _iter_data(sec, res):
        h.update(piece)
        if s is not None:
            s.update(piece)
    if res["map"]:
        sec.values["length"] = res["map"]
    sec.values["blake2b-256"] = _hex(h.digest())
    if s is not None:
        sec.values["sha256"] = _hex(s.digest())
    return res


def _want_sha256(sha256, env):
    v = env.get("NHL_FWUP_SHA256", "")
    return bool(sha256) or v not in ("", "0", "false", "no")


def _open_output(path):
    if path == "-":
        import sys

        return getattr(sys.stdout, "buffer", sys.stdout), False
    try:
        return open(path, "wb"), True
    except OSError as e:
        raise FwupError("error creating archive '%s': %s" % (path, e),
                        hint="check the directory exists and is writable")


def _remove(path):
    try:
        import os

        os.remove(path)
    except (OSError, ImportError):  # portable: ok
        pass


def create_archive(conf_path, out_path, private_key=None, sha256=False, level=9, env=None,
                   progress=None):
    """Create ``out_path`` from ``conf_path`` (``fwup -c``). Returns an info dict:
    ``meta_conf`` (bytes), ``uuid``, ``signed``, ``entries`` [(name, size)], ``size``."""
    writer._compressor(level)  # fail early (MicroPython, bad level)
    env = dict(_default_env() if env is None else env)
    key = _private_key(private_key)
    read_text = None
    if conf_path == "-":
        import sys

        stdin_text = sys.stdin.read()

        def read_text(path):
            return stdin_text if path == "-" else fwupconf._read_text(path)

    conf = fwupconf.load(conf_path, env, read_text=read_text)
    want_sha = _want_sha256(sha256, env)
    measured = []
    for sec in conf.resources:
        measured.append((sec, _measure(sec, want_sha)))
    meta = conf.meta_conf()
    mtime = creation_time(env)
    total = 0
    for _sec, res in measured:
        total += res["data_size"]
    out, is_file = _open_output(out_path)
    entries = []
    try:
        w = writer.ZipWriter(out, level)
        if key is not None:
            w.add("meta.conf.ed25519", keygen.sign(key, meta), method=writer.STORED)
            entries.append(("meta.conf.ed25519", 64))
        w.add("meta.conf", meta, mtime=mtime & 0xFFFFFFFF, dos_time=_dos_time(mtime))
        entries.append(("meta.conf", len(meta)))
        done = 0
        for sec, res in measured:
            name = fwupconf.archive_path(sec)
            w.begin(name, res["data_size"])
            for piece in _iter_data(sec, res):
                w.write(piece)
                done += len(piece)
                if progress is not None:
                    progress(done, total)
            w.end()
            entries.append((name, res["data_size"]))
        size = w.close()
    except BaseException:
        if is_file:
            out.close()
            _remove(out_path)
        raise
    if is_file:
        out.close()
    return {"meta_conf": meta, "uuid": meta_uuid(meta), "signed": key is not None,
            "entries": entries, "size": size}


def sign_archive(in_path, out_path, private_key, env=None, progress=None):
    """Re-sign ``in_path`` into ``out_path`` (``fwup -S``; both may be the same file).

    Drops an old signature, writes the new one, then meta.conf with a new mtime, then every
    other entry re-deflated at level 9 (spec 1.5). Returns the same info dict as create."""
    writer._compressor(9)
    env = dict(_default_env() if env is None else env)
    key = _private_key(private_key)
    if key is None:
        raise FwupError("Specify a signing key", hint="pass -s KEYFILE")
    import zipfile

    try:
        zf = zipfile.ZipFile(in_path)
    except (OSError, zipfile.BadZipFile) as e:
        raise FwupError("can't read firmware archive '%s': %s" % (in_path, e),
                        hint="is it a .fw file?")
    tmp = out_path + ".tmp"
    entries = []
    try:
        infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
        meta = None
        out, _ = _open_output(tmp)
        try:
            w = writer.ZipWriter(out, 9)
            total = 0
            for info in infos:
                total += info.file_size
            done = 0
            for info in infos:
                if info.filename == "meta.conf.ed25519":
                    continue
                if info.filename == "meta.conf":
                    if meta is not None:
                        raise FwupError("Invalid firmware. More than one meta.conf found")
                    meta = zf.read(info)
                    if len(meta) < 10 or len(meta) >= META_CONF_MAX:
                        raise FwupError("Unexpected meta.conf size: %d" % len(meta))
                    mtime = creation_time(env)
                    w.add("meta.conf.ed25519", keygen.sign(key, meta), method=writer.STORED)
                    w.add("meta.conf", meta, mtime=mtime & 0xFFFFFFFF, dos_time=_dos_time(mtime))
                    entries.append(("meta.conf.ed25519", 64))
                    entries.append(("meta.conf", len(meta)))
                    continue
                if meta is None:
                    raise FwupError("Invalid firmware. meta.conf must be at the beginning of "
                                    "archive (found %r first)" % info.filename)
                w.begin(info.filename, info.file_size)
                with zf.open(info) as src:
                    while True:
                        piece = src.read(CHUNK)
                        if not piece:
                            break
                        w.write(piece)
                        done += len(piece)
                        if progress is not None:
                            progress(done, total)
                w.end()
                entries.append((info.filename, info.file_size))
            if meta is None:
                raise FwupError("Invalid firmware. No meta.conf found")
            size = w.close()
        finally:
            out.close()
    except (zipfile.BadZipFile, EOFError) as e:
        _remove(tmp)
        raise FwupError("can't read firmware archive '%s': %s" % (in_path, e))
    except BaseException:
        _remove(tmp)
        raise
    finally:
        zf.close()
    import os

    os.replace(tmp, out_path)
    return {"meta_conf": meta, "uuid": meta_uuid(meta), "signed": True, "entries": entries,
            "size": size}


# ---- CLI hooks --------------------------------------------------------------------------


def _fail(e):
    import sys

    sys.stderr.write("fwup: %s\n" % e)
    return 1


def create_cmd(opts):
    """``-c -f CONF -o OUT [-s PRIVKEY] [--sha256] [-1..-9]``. Keys: config (``-`` = stdin),
    output (``-`` = stdout), private_key_file (path) or private_key (path or base64 text),
    sha256, compression_level, quiet. Returns the exit code."""
    conf = opts.get("config")
    out = opts.get("output")
    if not conf:
        return _fail("Specify an input config file (-f)")
    if not out:
        return _fail("Specify an output firmware file (-o)")
    try:
        create_archive(conf, out, _opts_key(opts), bool(opts.get("sha256")),
                       opts.get("compression_level") or 9)
    except NervesHubError as e:
        return _fail(e)
    return 0


def sign_cmd(opts):
    """``-S -s PRIVKEY -i IN -o OUT`` (OUT defaults to IN). Returns the exit code."""
    src = opts.get("input")
    if not src:
        return _fail("Specify an input firmware file (-i)")
    try:
        key = _opts_key(opts)
        if key is None:
            return _fail("Specify a signing key (-s)")
        sign_archive(src, opts.get("output") or src, key)
    except NervesHubError as e:
        return _fail(e)
    return 0


def genkey_cmd(opts):
    """``-g [-o PREFIX]``: write PREFIX.pub and PREFIX.priv (default prefix fwup-key)."""
    prefix = opts.get("output") or "fwup-key"
    try:
        pub, priv = generate_keys()
        keygen.write_key_files(prefix, pub, priv)
    except NervesHubError as e:
        return _fail(e)
    if not opts.get("quiet"):
        import sys

        sys.stdout.write("Firmware signing keys created and saved to '%s.pub' and '%s.priv'\n"
                         % (prefix, prefix))
    return 0
