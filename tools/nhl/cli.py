"""`nhl`: host tools for nerves_hub_link.

Each subcommand lives in its own module ``nhl.cmd_<name>`` exposing
``register(subparsers)``; it sets ``func`` on its parser, which returns an exit code.
"""

import argparse
import importlib
import sys

# Order shown in --help.
COMMANDS = ["fw", "hub", "device", "nerves_key", "deploy", "freeze"]


def build_parser():
    p = argparse.ArgumentParser(
        prog="nhl",
        description="nerves_hub_link host tools: firmware archives, a local NervesHub, "
        "a CPython device, NervesKey, deploy and freeze for boards.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module("nhl.cmd_" + name)
        except ModuleNotFoundError as e:
            if e.name != "nhl.cmd_" + name:
                raise
            continue
        mod.register(sub)
    return p


def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    if not getattr(args, "func", None):
        p.print_help()
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
