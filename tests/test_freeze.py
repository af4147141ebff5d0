"""``nhl freeze``: every board's manifest compiles with mpy-cross for its architecture and
covers the import closure of the board's boot.py/main.py."""

import json
import os
import re
import subprocess
import sys

import pytest
from nhl import cmd_freeze, mpbuild

ROOT = mpbuild.ROOT
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    os.path.join(ROOT, p) for p in ("lib", "port_cpython", "tools")))


@pytest.mark.parametrize("board,arch", [("esp32", "xtensawin"), ("rp2040", "armv6m"),
                                        ("rp2350", "armv7m"), ("unix", "x64")])
def test_freeze_compiles_every_board_and_prints_the_total(board, arch, tmp_path):
    r = subprocess.run([sys.executable, "-m", "nhl", "freeze", "--board", board,
                        "--out", str(tmp_path)], cwd=ROOT, env=ENV, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"^%s: (\d+) modules, (\d+) bytes of \.mpy .*-march=%s" % (board, arch),
                  r.stdout, re.M)
    assert m, r.stdout
    mpys = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs]
    assert len(mpys) == int(m.group(1))
    assert sum(os.path.getsize(p) for p in mpys) == int(m.group(2))
    for p in mpys:
        with open(p, "rb") as f:
            head = f.read(2)
        assert head == b"M\x06", p  # .mpy v6: readable by MicroPython >= 1.23
    rows = dict(re.findall(r"^\| (\S+\.mpy) \| (\d+) \|$", r.stdout, re.M))
    assert "nerves_hub_link/fwup/applier.mpy" in rows
    assert "nerves_hub_link/fwup/create.mpy" not in rows  # host-only: boards only apply


@pytest.mark.parametrize("board", sorted(mpbuild.BOARDS))
def test_manifest_covers_the_import_closure_of_the_board(board):
    b = mpbuild.BOARDS[board]
    man = mpbuild.load_manifest(b)
    needed, unresolved = mpbuild.import_closure(b)
    frozen = {os.path.abspath(src) for src, _ in man.files}
    entries = {os.path.join(b.dir, e) for e in b.entries}
    assert not unresolved
    assert needed - entries, "the closure found nothing beyond the entry scripts"
    assert sorted(needed - frozen - entries) == []
    rel = {os.path.relpath(f, ROOT) for f in needed}
    assert "lib/nerves_hub_link/link.py" in rel
    assert "lib/nerves_hub_link/fwup/applier.py" in rel
    if board == "esp32":
        assert "boards/esp32/nhl_esp32.py" in rel and "boards/common/nhl_board.py" in rel
    if board.startswith("rp2"):
        assert "boards/rp2/nhl_rp2.py" in rel and "boards/rp2/app.py" not in rel


def test_a_manifest_missing_a_needed_module_is_reported(tmp_path):
    bad = tmp_path / "manifest.py"
    bad.write_text('include("$(PORT_DIR)/boards/manifest.py")\n'
                   'package("nerves_hub_link", base_path="%s")\n'
                   'module("nhl_esp32.py", base_path="%s")\n'
                   % (os.path.join(ROOT, "lib"), os.path.join(ROOT, "boards", "esp32")))
    r = cmd_freeze.freeze("esp32", manifest=str(bad), out=str(tmp_path / "out"))
    assert "boards/common/nhl_board.py" in r["uncovered"]
    assert "boards/common/nhl_flashmap.py" in r["uncovered"]
    assert r["external"] == ["$(PORT_DIR)/boards/manifest.py"]
    rc = subprocess.run([sys.executable, "-m", "nhl", "freeze", "--board", "esp32", "-q",
                         "--manifest", str(bad), "--out", str(tmp_path / "out2")],
                        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert rc.returncode == 1
    assert "nhl_board.py is imported by the board but missing from the manifest" in rc.stderr


def test_manifest_semantics_follow_micropython(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    for f in ("pkg/__init__.py", "pkg/a.py", "pkg/sub/b.py", "pkg/notes.txt", "m.py"):
        (tmp_path / f).write_text("")
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "manifest.py").write_text(
        'options.defaults(extra=False)\n'
        'module("m.py", base_path="..")\n'
        'if options.extra:\n    package("pkg", files=["a.py"], base_path="..")\n')
    (tmp_path / "manifest.py").write_text(
        'metadata(version="1.2")\npackage("pkg")\ninclude("inc", extra=True)\n'
        'require("ssl")\ninclude("$(MPY_DIR)/extmod/asyncio")\n')
    m = mpbuild.Manifest().execute(str(tmp_path / "manifest.py"))
    assert [t for _s, t in m.files] == ["pkg/__init__.py", "pkg/a.py", "pkg/sub/b.py", "m.py",
                                        "pkg/a.py"]
    assert m.metadata_ == {"version": "1.2"}
    assert m.external == ["require('ssl')", "$(MPY_DIR)/extmod/asyncio"]
    (tmp_path / "broken.py").write_text('module("missing.py")\n')
    with pytest.raises(mpbuild.ManifestError, match="missing file"):
        mpbuild.Manifest().execute(str(tmp_path / "broken.py"))


def test_package_json_files_cover_what_the_boards_import():
    """mip's package.json files (root: library + shared glue; boards/<b>: the board module)
    name existing files and cover each board's import closure. Regenerate them with
    ``nhl freeze --package-json`` after adding a module."""
    listed = set()
    for rel in ["package.json"] + ["%s/package.json" % d for d in mpbuild.PACKAGE_BOARDS.values()]:
        with open(os.path.join(ROOT, rel)) as f:
            data = json.load(f)
        assert data["version"] == mpbuild.VERSION and data["deps"] == []
        base = os.path.dirname(os.path.join(ROOT, rel))
        for dest, src in data["urls"]:
            path = os.path.normpath(os.path.join(base, src))
            assert os.path.isfile(path), "%s lists a missing file %s" % (rel, src)
            assert not dest.startswith(("/", "..")) and dest.endswith(".py")
            listed.add(path)
    for board in ("esp32", "rp2040"):
        b = mpbuild.BOARDS[board]
        needed, _ = mpbuild.import_closure(b)
        entries = {os.path.join(b.dir, e) for e in b.entries}
        stale = sorted(os.path.relpath(f, ROOT) for f in needed - entries - listed)
        assert not stale, "not in package.json (run `nhl freeze --package-json`): %s" % stale
    assert os.path.join(ROOT, "lib", "nerves_hub_link", "fwup", "create.py") not in listed
