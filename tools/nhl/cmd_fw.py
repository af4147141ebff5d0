"""`nhl fw`: create, sign, inspect and verify fwup `.fw` archives; make signing keys.

Subcommands: keygen, create, sign (also --detached for any file), inspect, verify
(also --detached). Exit codes: 0 success, 1 the operation or a check failed, 2 bad usage
(missing file, bad option). Progress bars go to stderr, only on a TTY or with --progress.
"""

import argparse
import json
import os
import sys

from nerves_hub_link.errors import NervesHubError
from nerves_hub_link.fsutil import read_chunks

EPILOG_KEYS = ("Key files are fwup's: KEY.pub holds the base64 32-byte public key, KEY.priv the "
               "base64 64-byte seed+public key (made by `nhl fw keygen` or `fwup -g`).")


def _install_port():
    try:
        import nhl_port
    except ImportError:
        return
    nhl_port.install()


class _Progress:
    """A one-line progress bar on stderr (only when enabled)."""

    def __init__(self, label, enabled):
        self.label = label
        self.enabled = enabled
        self.last = -1

    def __call__(self, done, total):
        if not self.enabled:
            return
        pct = 100 if total <= 0 else done * 100 // total
        if pct == self.last:
            return
        self.last = pct
        bar = "=" * (pct * 30 // 100)
        sys.stderr.write("\r%-10s [%-30s] %3d%%" % (self.label, bar, pct))
        sys.stderr.flush()

    def close(self):
        if self.enabled and self.last >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _progress(args, label):
    return _Progress(label, bool(getattr(args, "progress", False)) or sys.stderr.isatty())


def _err(msg, hint=None, code=1):
    sys.stderr.write("nhl fw: error: %s\n" % msg)
    if hint:
        sys.stderr.write("  hint: %s\n" % hint)
    return code


def _need_file(path, what):
    if path != "-" and not os.path.isfile(path):
        return _err("%s %s does not exist" % (what, path), "check the path", 2)
    return 0


def _need_private_key(path):
    """0, or exit code 2 after the error when *path* is missing or not a private key file
    (the same code a bad -p KEY.pub gets)."""
    from nerves_hub_link.fwup import keygen

    rc = _need_file(path, "private key")
    if rc:
        return rc
    try:
        keygen.read_key_file(path, keygen.PRIVATE_LEN)
    except NervesHubError as e:
        return _err(e.message, e.hint, 2)
    return 0


# ---- keygen / create / sign ------------------------------------------------------------


def cmd_keygen(args):
    from nerves_hub_link.fwup import keygen

    try:
        pub, priv = keygen.generate_keys()
        paths = keygen.write_key_files(args.output, pub, priv)
    except NervesHubError as e:
        return _err(e.message, e.hint)
    except OSError as e:
        return _err("can't write the key files %s.pub/.priv: %s" % (args.output, e),
                    "check the directory exists and is writable")
    print("wrote %s (public, give it to devices) and %s (private, keep it secret)" % paths)
    return 0


def _parse_env(pairs):
    env = dict(os.environ)
    for p in pairs or ():
        if "=" not in p:
            raise ValueError("--define needs NAME=VALUE, got %r" % p)
        k, v = p.split("=", 1)
        env[k] = v
    return env


def cmd_create(args):
    from nerves_hub_link.fwup import create

    rc = _need_file(args.config, "config file")
    if rc:
        return rc
    if args.private_key and _need_private_key(args.private_key):
        return 2
    try:
        env = _parse_env(args.define)
    except ValueError as e:
        return _err(str(e), code=2)
    bar = _progress(args, "create")
    try:
        info = create.create_archive(args.config, args.output, private_key=args.private_key,
                                     sha256=args.sha256, level=args.level, env=env,
                                     progress=bar)
    except NervesHubError as e:
        bar.close()
        return _err(e.message, e.hint)
    bar.close()
    if not args.quiet and args.output != "-":
        print("created %s: %d bytes, %d entries, %s, meta-uuid %s"
              % (args.output, info["size"], len(info["entries"]),
                 "signed" if info["signed"] else "unsigned", info["uuid"]))
    return 0


def cmd_sign(args):
    if args.detached:
        return _sign_detached(args)
    from nerves_hub_link.fwup import create

    if not args.input:
        return _err("give the archive with -i FILE (or --detached FILE)", code=2)
    rc = _need_file(args.input, "archive") or _need_private_key(args.private_key)
    if rc:
        return rc
    bar = _progress(args, "sign")
    try:
        info = create.sign_archive(args.input, args.output or args.input, args.private_key,
                                   progress=bar)
    except NervesHubError as e:
        bar.close()
        return _err(e.message, e.hint)
    bar.close()
    if not args.quiet:
        print("signed %s (meta-uuid %s)" % (args.output or args.input, info["uuid"]))
    return 0


def _sign_detached(args):
    import mmap

    from nerves_hub_link.fwup import keygen

    path = args.detached
    rc = _need_file(path, "file") or _need_private_key(args.private_key)
    if rc:
        return rc
    out = args.output or path + ".sig"
    try:
        key = keygen.read_key_file(args.private_key, keygen.PRIVATE_LEN)
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                data = b""
            else:
                data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            sig = _sign_bytes(key, data)
        with open(out, "wb") as f:
            f.write(keygen.encode(sig))
    except NervesHubError as e:
        return _err(e.message, e.hint)
    if not args.quiet:
        print("wrote %s (base64 Ed25519 signature of %s)" % (out, path))
    return 0


def _sign_bytes(key, data):
    # cryptography signs straight from the mmap (no copy); fall back to our own Ed25519.
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError:
        from nerves_hub_link.fwup import keygen

        return keygen.sign(key, bytes(data))
    return Ed25519PrivateKey.from_private_bytes(bytes(key[:32])).sign(data)


# ---- reading archives ------------------------------------------------------------------


class _Scan:
    """ZipStream handler collecting what inspect/verify report (hashes every entry)."""

    def __init__(self):
        self.entries = []  # dicts: name, method, size, csize, mtime
        self.signature = None
        self.meta = None
        self.meta_entry = None
        self.digests = {}  # archive name -> (blake2b hex, sha256 hex, size)
        self.end_error = None
        self.stream = None
        self._h = None
        self._s = None
        self._buf = None
        self._n = 0

    def on_entry(self, entry):
        from nerves_hub_link.crypto import hashes

        self._n = 0
        if entry.name in ("meta.conf", "meta.conf.ed25519") and len(self.entries) < 2:
            self._buf = bytearray()
            entry.limit = 50000
        else:
            self._buf = None
            self._h = hashes.blake2b_256()
            self._s = hashes.sha256()
        return True

    def on_data(self, entry, chunk):
        self._n += len(chunk)
        if self._buf is not None:
            self._buf.extend(chunk)
        else:
            self._h.update(chunk)
            self._s.update(chunk)

    def on_entry_end(self, entry):
        from nerves_hub_link.crypto.hashes import to_hex

        self.entries.append({"name": entry.name, "method": entry.method, "size": self._n,
                             "csize": self.stream.cread, "mtime": entry.mtime})
        if self._buf is not None:
            if entry.name == "meta.conf":
                self.meta = bytes(self._buf)
                self.meta_entry = entry
            else:
                self.signature = bytes(self._buf)
        else:
            self.digests[entry.name] = (to_hex(self._h.digest()), to_hex(self._s.digest()),
                                        self._n)

    def on_end(self, error):
        self.end_error = error


def _scan(path, bar):
    from nerves_hub_link.fwup import zipstream

    scan = _Scan()
    stream = zipstream.ZipStream(scan)
    scan.stream = stream
    total = os.path.getsize(path)
    done = 0
    with open(path, "rb") as f:
        while not stream.done:
            piece = f.read(16384)
            if not piece:
                stream.finish()
                break
            stream.feed(piece)
            done += len(piece)
            bar(done, total)
    bar.close()
    return scan


def _load_keys(paths):
    from nerves_hub_link.fwup import keygen

    return [(p, keygen.read_key_file(p, keygen.PUBLIC_LEN)) for p in paths or ()]


def _check(scan, keys):
    """fwup -V style checks. Returns (ok, lines, metaconf or None)."""
    from nerves_hub_link.fwup import keygen, metaconf

    names = [e["name"] for e in scan.entries]
    lines = []
    signed = bool(names) and names[0] == "meta.conf.ed25519"
    first_meta = 1 if signed else 0
    if len(names) <= first_meta or names[first_meta] != "meta.conf" or scan.meta is None:
        return False, ["meta.conf must be the first entry (after the signature), got %r"
                       % names[:2]], None
    if signed and len(scan.signature) != 64:
        return False, ["Unexpected meta.conf.ed25519 size: %d" % len(scan.signature)], None
    sig_status = "unsigned"
    ok = True
    if signed:
        good = [p for p, k in keys if keygen.verify(k, scan.signature[:64], scan.meta)]
        if good:
            sig_status = "good (%s)" % good[0]
        elif keys:
            sig_status = "BAD for every key given"
            ok = False
            lines.append("Firmware archive's meta.conf fails digital signature verification.")
        else:
            sig_status = "present, not checked (give -p KEY.pub)"
    elif keys:
        ok = False
        lines.append("Expecting signed firmware archive.")
    try:
        mc = metaconf.load(scan.meta, env={}, mtime=scan.meta_entry.mtime,
                           dos_time=scan.meta_entry.dos_time)
    except NervesHubError as e:
        return False, lines + ["meta.conf does not parse: %s" % e], None
    mc.signature_status = sig_status
    seen = set()
    for name in names[first_meta + 1:]:
        res = name[5:] if name.startswith("data/") else "/" + name
        r = mc.resources.get(res)
        if r is None:
            ok = False
            lines.append("Can't find file-resource for %s" % res)
            continue
        seen.add(res)
        b2, s2, n = scan.digests[name]
        if n != r.data_size:
            ok = False
            lines.append("%s: %d bytes in the archive but meta.conf says %d" % (res, n, r.data_size))
        if r.blake2b != b2:
            ok = False
            lines.append("Detected blake2b digest mismatch for %s" % res)
        if r.sha256 is not None and r.sha256 != s2:
            ok = False
            lines.append("Detected sha256 digest mismatch for %s" % res)
    for res in mc.resource_order:
        if res not in seen:
            ok = False
            lines.append("Resource %s not found in archive" % res)
    return ok, lines, mc


def _read_archive(args):
    rc = _need_file(args.file, "archive")
    if rc:
        return rc, None, None
    try:
        keys = _load_keys(args.public_key)
    except NervesHubError as e:
        return _err(e.message, e.hint, 2), None, None
    try:
        scan = _scan(args.file, _progress(args, "read"))
    except NervesHubError as e:
        return _err("%s: %s" % (args.file, e.message), "is it a complete .fw file?"), None, None
    return 0, scan, keys


def cmd_verify(args):
    if args.detached:
        return _verify_detached(args)
    if not args.file:
        return _err("give the archive to verify (or --detached FILE --sig SIG)", code=2)
    rc, scan, keys = _read_archive(args)
    if rc:
        return rc
    ok, lines, mc = _check(scan, keys)
    if scan.end_error is not None:
        ok = False
        lines.append(str(scan.end_error))
    for line in lines:
        print("fwup: %s" % line)
    if not ok:
        return 1
    status = mc.signature_status
    if status.startswith("good"):
        print("Valid archive with a good signature")
    elif status.startswith("present"):
        print("Valid archive with an unverified signature. Specify a public key to authenticate.")
    else:
        print("Valid archive without a signature")
    return 0


def _verify_detached(args):
    from nerves_hub_link.crypto import ed25519
    from nerves_hub_link.fwup import keygen

    path = args.detached
    sig_path = args.sig or path + ".sig"
    for p, what in ((path, "file"), (sig_path, "signature")):
        rc = _need_file(p, what)
        if rc:
            return rc
    if not args.public_key:
        return _err("give the public key with -p KEY.pub", code=2)
    try:
        keys = _load_keys(args.public_key)
        with open(sig_path, "rb") as f:
            sig = keygen.decode(f.read(200), 64, sig_path)
    except NervesHubError as e:
        return _err(e.message, e.hint, 2)
    verifiers = [(p, ed25519.Verifier(k, sig)) for p, k in keys]
    bar = _progress(args, "verify")
    total = os.path.getsize(path)
    done = 0
    with open(path, "rb") as f:
        for chunk in read_chunks(f, bytearray(65536)):
            for _p, v in verifiers:
                v.update(chunk)
            done += len(chunk)
            bar(done, total)
    bar.close()
    good = [p for p, v in verifiers if v.verify()]
    if good:
        print("good signature of %s by %s" % (path, good[0]))
        return 0
    print("BAD signature: %s is not signed by %s" % (path, ", ".join(p for p, _ in keys)))
    return 1


def cmd_inspect(args):
    rc, scan, keys = _read_archive(args)
    if rc:
        return rc
    ok, problems, mc = _check(scan, keys)
    if scan.end_error is not None:
        problems.append(str(scan.end_error))
        ok = False
    if args.json:
        print(json.dumps(_as_json(scan, mc, ok, problems), indent=2, sort_keys=True))
        return 0 if ok else 1
    out = []
    out.append("Archive  %s (%d bytes)" % (args.file, os.path.getsize(args.file)))
    if mc is not None:
        out.append("")
        out.append("Metadata")
        for k in sorted(mc.meta):
            out.append("  %-22s %s" % (k, mc.meta[k]))
        out.append("  %-22s %s" % ("signature", mc.signature_status))
    out.append("")
    out.append("Entries")
    out.append("  %-28s %-7s %12s %12s" % ("name", "method", "size", "compressed"))
    for e in scan.entries:
        out.append("  %-28s %-7s %12d %12d" % (e["name"], {0: "stored", 8: "deflate"}.get(
            e["method"], str(e["method"])), e["size"], e["csize"]))
    if mc is not None:
        out.append("")
        out.append("Resources")
        for name in mc.resource_order:
            r = mc.resources[name]
            size = "%d" % r.total_size
            if r.sparse:
                size += " (sparse, %d data)" % r.data_size
            out.append("  %s  %s bytes" % (name, size))
            out.append("    blake2b-256 %s" % r.blake2b)
            if r.sha256:
                out.append("    sha256      %s" % r.sha256)
        out.append("")
        out.append("Tasks")
        for t in mc.tasks:
            out.append("  %s" % t.name)
            for name, argv in t.reqs:
                out.append("    requires  %s(%s)" % (name, ", ".join(argv)))
            for ev in ("on-init", "on-finish", "on-error"):
                for name, argv in t.events.get(ev) or ():
                    out.append("    %-9s %s(%s)" % (ev, name, ", ".join(argv)))
            for res, actions in t.on_resource:
                for name, argv in actions:
                    out.append("    %-9s %s(%s)" % ("[%s]" % res, name, ", ".join(argv)))
    out.append("")
    if ok:
        out.append("Check    OK (sizes and hashes of every resource match meta.conf)")
    else:
        out.append("Check    FAILED")
        out.extend("  " + p for p in problems)
    print("\n".join(out))
    return 0 if ok else 1


def _as_json(scan, mc, ok, problems):
    d = {"ok": ok, "problems": problems, "entries": scan.entries}
    if mc is not None:
        d["metadata"] = mc.meta
        d["signature"] = mc.signature_status
        d["resources"] = {n: {"size": r.total_size, "data_size": r.data_size, "runs": r.runs,
                              "blake2b-256": r.blake2b, "sha256": r.sha256}
                          for n, r in mc.resources.items()}
        d["tasks"] = [t.name for t in mc.tasks]
    return d


# ---- parser ----------------------------------------------------------------------------


def _add_progress(p):
    p.add_argument("--progress", action="store_true",
                   help="show a progress bar on stderr even when it is not a terminal")


def _add_quiet(p):
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def _level(s):
    try:
        v = int(s)
    except ValueError:
        v = -1
    if not 1 <= v <= 9:
        raise argparse.ArgumentTypeError("compression level must be 1..9, got %r" % s)
    return v


def register(subparsers):
    fw = subparsers.add_parser(
        "fw", help="create, sign, inspect and verify fwup .fw firmware archives",
        description="fwup-compatible firmware archives without installing fwup: archives "
        "made here are byte-identical to fwup 1.16.0's.", epilog=EPILOG_KEYS)
    sub = fw.add_subparsers(dest="fw_command", metavar="SUBCOMMAND")

    def _usage(args):
        fw.print_help()
        return 2

    fw.set_defaults(func=_usage)
    F = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser("keygen", help="make an Ed25519 signing key pair (fwup -g)",
                       description="Write PREFIX.pub and PREFIX.priv in fwup's format "
                       "(mode 0600). Existing files are never overwritten.",
                       epilog=EPILOG_KEYS, formatter_class=F)
    p.add_argument("-o", "--output", metavar="PREFIX", default="fwup-key",
                   help="path prefix of the two key files (default: fwup-key)")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("create", help="build a .fw from a fwup.conf (fwup -c)",
                       description="Build a .fw archive from a fwup.conf. Variables ${NAME} come "
                       "from the environment and --define; SOURCE_DATE_EPOCH fixes the "
                       "timestamp for reproducible builds.", epilog=EPILOG_KEYS,
                       formatter_class=F)
    p.add_argument("-f", "--config", required=True, metavar="CONF",
                   help="the fwup.conf to build from (host-path is relative to it)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="archive to write ('-' for stdout)")
    p.add_argument("-s", "--private-key", metavar="KEY.priv",
                   help="sign meta.conf with this private key file")
    p.add_argument("--sha256", action="store_true",
                   help="also record a sha256 of every resource in meta.conf so boards can "
                   "verify with C SHA-256 (same as NHL_FWUP_SHA256=1)")
    p.add_argument("-l", "--level", type=_level, default=9, metavar="N",
                   help="deflate compression level 1..9 (default 9, like fwup)")
    p.add_argument("-D", "--define", action="append", metavar="NAME=VALUE",
                   help="set a variable for ${NAME} expansion (repeatable; beats define())")
    _add_quiet(p)
    _add_progress(p)
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("sign", help="(re)sign a .fw, or sign any file --detached (fwup -S)",
                       description="Sign an archive: drop its old signature, sign meta.conf, "
                       "rewrite the archive (like fwup -S). With --detached FILE, write a "
                       "base64 Ed25519 signature of the whole file instead.",
                       epilog=EPILOG_KEYS, formatter_class=F)
    p.add_argument("-i", "--input", metavar="IN.fw", help="archive to sign")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="where to write (default: the input archive in place, or FILE.sig "
                   "with --detached)")
    p.add_argument("-s", "--private-key", required=True, metavar="KEY.priv",
                   help="private key file")
    p.add_argument("--detached", metavar="FILE",
                   help="sign the whole FILE and write a detached signature")
    _add_quiet(p)
    _add_progress(p)
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("inspect", help="show metadata, tasks, resources and signature status",
                       description="Read a .fw and print its metadata, entries, resources "
                       "(sizes, hashes), tasks and signature status; every resource is "
                       "checked against meta.conf. Exit 1 if a check fails.",
                       epilog=EPILOG_KEYS, formatter_class=F)
    p.add_argument("file", metavar="FILE.fw", help="archive to inspect")
    p.add_argument("-p", "--public-key", action="append", metavar="KEY.pub",
                   help="check the signature with this public key (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    _add_progress(p)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("verify", help="verify a .fw (fwup -V) or a --detached signature",
                       description="Verify an archive like fwup -V: structure, every "
                       "resource's size and hash, and the signature when -p is given (an "
                       "unsigned archive then fails). With --detached FILE --sig SIG, check "
                       "a detached signature of a whole file, streaming it.",
                       epilog=EPILOG_KEYS, formatter_class=F)
    p.add_argument("file", nargs="?", metavar="FILE.fw", help="archive to verify")
    p.add_argument("-p", "--public-key", action="append", metavar="KEY.pub",
                   help="trusted public key (repeatable; any one may match)")
    p.add_argument("--detached", metavar="FILE", help="verify a detached signature of FILE")
    p.add_argument("--sig", metavar="SIG",
                   help="detached signature file (default FILE.sig; base64 or 64 raw bytes)")
    _add_progress(p)
    p.set_defaults(func=cmd_verify)

    _install_port()
    return fw
