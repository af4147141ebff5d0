"""The official Phoenix JavaScript client (npm `phoenix`, run with node) joins the `device`
channel on the simulator's plain listener, receives a push and pushes back."""

import json
import os
import shutil
import subprocess

import pytest
from nhl.hub import init_dir
from nhl.hub.testing import ROOT, HubThread

JS = os.path.join(ROOT, "tests", "js")


@pytest.fixture(scope="module")
def phoenix_js():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (needed for the Phoenix JS interop test)")
    if not os.path.exists(os.path.join(JS, "node_modules", "phoenix")):
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=JS,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, "npm install phoenix failed:\n" + r.stdout + r.stderr
    return node


def test_phoenix_js_client_joins_and_receives_a_push(phoenix_js, tmp_path):
    d = str(tmp_path / "hub")
    init_dir(d)
    hub = HubThread(d, plain=True)
    try:
        url = "ws://127.0.0.1:%d/socket" % hub.ports["plain"]
        proc = subprocess.Popen([phoenix_js, "--experimental-websocket", "phoenix_client.mjs",
                                 url, "js-device"], cwd=JS, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        hub.wait(lambda s: "js-device" in s.devices and "device" in s.devices["js-device"].joined,
                 what="JS client join")
        hub.call(hub.hub.push("js-device", "device", "identify", {"from": "hub"}))
        out, err = proc.communicate(timeout=15)
        steps = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert proc.returncode == 0, (out, err)
        assert steps[0] == {"step": "joined", "response": {}}
        assert {"step": "push", "event": "identify", "payload": {"from": "hub"}} in steps
        hub.wait(lambda s: s.devices["js-device"].status == "js-ok", what="JS push")
        rec = hub.device("js-device")
        assert rec.auth == "anonymous"
        assert rec.join_params["device"]["nerves_fw_uuid"] == "js-uuid"
        join = [m for m in rec.messages if m.get("event") == "phx_join"][0]
        assert join["join_ref"] == join["ref"]  # the real client's framing, accepted as is
    finally:
        hub.stop()
