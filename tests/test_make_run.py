"""`make run` (tools/demo.py): key pair, two signed releases, hub, device on a blank flash,
deploy 2.0.0, progress bars, reboot into the other slot, summary -- exit 0 within a minute."""

import os
import subprocess
import sys
import time

from nhl.hub.testing import ROOT


def test_demo_updates_the_device_in_under_a_minute(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        os.path.join(ROOT, p) for p in ("lib", "port_cpython", "tools")))
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "tools/demo.py", "--workdir", str(tmp_path / "demo")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    elapsed = time.monotonic() - t0
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert elapsed < 60, (elapsed, out)
    for step in ("1/5", "2/5", "3/5", "4/5", "5/5"):
        assert "==> " + step in out, out
    assert "device-1 joined running 1.0.0 (slot a)" in out, out
    assert "firmware     1.0.0 (slot a) -> 2.0.0 (slot b)" in out, out
    assert "result       OK" in out, out
    # the progress bars reached 100 % for both the download and the apply
    bars = [ln for ln in out.splitlines() if ln.startswith("download")]
    assert bars and bars[-1].count("100%") == 2, out
    statuses = [ln for ln in out.splitlines() if ln.strip().startswith("statuses")][0]
    assert statuses.split()[1:] == ["received", "->", "started", "->", "completed"], statuses
