"""``fwup -V`` / ``-m`` / ``-l`` and the create/sign/genkey hand-off, split from ``cli`` so an
apply never loads them. Largest buffer: ``cli_apply``'s input piece.
"""

from nerves_hub_link.errors import NervesHubError
from nerves_hub_link.fwup.cli_apply import _env, _keys, _open_input, _run_archive, close_input


def run(opts, out):
    """Verify (``-V``), print metadata (``-m``) or list tasks (``-l``)."""
    if opts.get("verify"):
        _verify(opts, out)
    elif opts.get("metadata"):
        _metadata(opts, out)
    else:
        _list(opts, out)


def _read_meta(opts, mode):
    from nerves_hub_link.fwup.applier import Applier

    if "input" not in opts:
        raise NervesHubError("Specify an input firmware file (-i)")
    keys = _keys(opts)
    f, framed = _open_input(opts["input"], opts.get("framing"))
    try:
        app = Applier(None, "", public_keys=keys, env=_env(), fw_name=opts["input"], mode=mode)
        _run_archive(app, f, framed)
    finally:
        close_input(opts["input"], f)
    return app


def _metadata(opts, out):
    from nerves_hub_link.fwup import metaconf

    app = _read_meta(opts, "meta")
    key = opts.get("metadata_key")
    if key:
        v = app.meta.meta.get(key)
        text = "" if v is None else v + "\n"
    else:
        text = metaconf.metadata_text(app.meta)
    out.ok(text)


def _list(opts, out):
    app = _read_meta(opts, "meta")
    out.ok("".join(n + "\n" for n in app.meta.task_names()))


def _verify(opts, out):
    app = _read_meta(opts, "verify")
    if app.keys:
        text = "Valid archive with a good signature\n"
    elif app.sig is not None:
        text = ("Valid archive with an unverified signature. "
                "Specify a public key to authenticate.\n")
    else:
        text = "Valid archive without a signature\n"
    out.ok(text)


def create(opts):
    try:
        from nerves_hub_link.fwup import create  # portable: ok (optional module)
    except ImportError:
        print("fwup: archive creation is not available in this build")
        return 1
    if opts.get("gen_keys"):
        return create.genkey_cmd(opts)
    if opts.get("sign"):
        return create.sign_cmd(opts)
    return create.create_cmd(opts)
