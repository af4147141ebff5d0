"""fwup-compatible command line: ``python -m nerves_hub_link.fwup`` / ``micropython -m ...``.

Apply ``-a -d OUT -i FW -t TASK [-p KEYFILE] [--public-key B64] [-F] [-q] [-n] [--unsafe]``,
verify ``-V``, metadata ``-m [--metadata-key K]``, list ``-l``; ``-i -`` reads stdin (framed
packets with ``-F``). Create/sign/genkey flags are passed to ``nerves_hub_link.fwup.create``.
Errors are printed as ``fwup: <text>`` on stdout (``ER`` frames with ``-F``); exit 0 or 1.
The apply itself and the input readers live in ``cli_apply``. No buffers of its own.
"""

import sys

from nerves_hub_link.errors import NervesHubError


def _preload():
    """MicroPython: compile the BLAKE2b code while the heap is empty (its set-up is the peak
    of a run) and reserve the deflate window before the heap fragments."""
    if sys.implementation.name == "micropython":
        from nerves_hub_link.crypto import blake2b  # noqa: F401
    from nerves_hub_link.fwup import zipstream

    zipstream.reserve_window()


def main(argv=None, defer_apply=False):
    """Run fwup with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    ``defer_apply``: for an apply return ``(opts, out)`` instead, for ``cli_apply.run`` (so the
    caller can drop this module first)."""
    if argv is None:
        argv = sys.argv[1:]
    _preload()
    from nerves_hub_link import hal

    hal.install_port()
    from nerves_hub_link.fwup import cli_args
    from nerves_hub_link.fwup.cli_apply import _Out, run, unload

    try:
        opts = cli_args.parse_args(argv)
    except cli_args.UsageError as e:
        print("fwup: %s" % e)
        return 1
    finally:
        cli_args = None  # noqa: F841
        unload("nerves_hub_link.fwup.cli_args")
    if opts.get("create") or opts.get("sign") or opts.get("gen_keys"):
        from nerves_hub_link.fwup import cli_info

        return cli_info.create(opts)
    if opts.get("version"):
        from nerves_hub_link.fwup import FWUP_VERSION

        print(FWUP_VERSION)
        return 0
    out = _Out(opts.get("framing"), opts.get("quiet"), opts.get("numeric"))
    if opts.get("apply"):
        return (opts, out) if defer_apply else run(opts, out)
    if opts.get("verify") or opts.get("metadata") or opts.get("list"):
        from nerves_hub_link.fwup import cli_info

        return run(opts, out, cli_info.run)
    return run(opts, out, _no_mode)


def _no_mode(opts, out):
    raise NervesHubError("Specify -a (apply), -V (verify), -m (metadata), -l (list), "
                         "-c (create), -S (sign) or -g (generate keys)")
