"""`nhl freeze --mpy-cross` and `nhl deploy --mpremote` with a path that is not an executable:
an error naming it (exit 1), never a silent fall-back to another tool or a traceback."""

import os
import subprocess
import sys

import pytest
from nhl.hub.testing import ROOT


def nhl(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        os.path.join(ROOT, p) for p in ("lib", "port_cpython", "tools")))
    return subprocess.run([sys.executable, "-m", "nhl", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_freeze_with_a_bad_mpy_cross(tmp_path, kind):
    tool = tmp_path / "mpy-cross"
    if kind == "directory":
        tool.mkdir()
    r = nhl("freeze", "--board", "unix", "-q", "--out", str(tmp_path / "out"),
            "--mpy-cross", str(tool))
    assert r.returncode == 1, r.stdout
    assert "Traceback" not in r.stderr
    assert "--mpy-cross %s is not an executable file" % tool in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_deploy_with_a_bad_mpremote(tmp_path, kind):
    tool = tmp_path / "mpremote"
    if kind == "directory":
        tool.mkdir()
    r = nhl("deploy", "--board", "unix", "--port", "/dev/ttyUSB9", "--no-lib",
            "--stage", str(tmp_path / "stage"), "--mpremote", str(tool))
    assert r.returncode == 1, r.stdout
    assert "Traceback" not in r.stderr
    assert "--mpremote %s is not an executable file" % tool in r.stderr
