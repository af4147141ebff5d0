"""`nhl hub` client actions given wrong input: a usage error (2) or a failure (1) with the
reason, never a traceback or an HTTP 500 from the simulator."""

import os
import subprocess
import sys

import pytest
from nhl.hub import init_dir
from nhl.hub.testing import ROOT, HubThread


@pytest.fixture(scope="module")
def admin(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("hub"))
    init_dir(d)
    h = HubThread(d)
    yield "http://127.0.0.1:%d" % h.ports["admin"]
    h.stop()


def _nhl_hub(*args, stdin=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        os.path.join(ROOT, p) for p in ("lib", "port_cpython", "tools")))
    return subprocess.run([sys.executable, "-m", "nhl", "hub", *args], env=env, cwd=ROOT,
                          stdin=stdin, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("action", [("push", "device-1", "reboot", "{bad"),
                                    ("faults", "x.fw", "[{oops}]")])
def test_bad_json_argument_is_a_usage_error(admin, action):
    r = _nhl_hub("--admin", admin, *action)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "is not valid JSON" in r.stderr


def test_admin_url_without_scheme_is_a_usage_error():
    r = _nhl_hub("--admin", "127.0.0.1:4444", "devices")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "not an http:// URL" in r.stderr


@pytest.mark.parametrize("path, body", [("/admin/devices/d/deploy", {"file": "/nonexistent.fw"}),
                                        ("/admin/firmware", {}),
                                        ("/admin/devices/d/push", {"payload": {}})])
def test_admin_api_refuses_bad_bodies_with_400(admin, path, body):
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(admin + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400


def test_deploy_of_a_missing_file_says_so(admin, tmp_path):
    r = _nhl_hub("--admin", admin, "deploy", "device-1", str(tmp_path / "nope.fw"))
    assert r.returncode == 1
    assert "HTTP 400" in r.stderr and "nope.fw" in r.stderr and "not found" in r.stderr


def test_console_with_stdin_from_a_regular_file_ends_at_its_end(admin, tmp_path):
    script = tmp_path / "keys.txt"
    script.write_text("1 + 1\n")
    with open(script) as f:
        r = _nhl_hub("--admin", admin, "console", "device-1", stdin=f)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "(Ctrl-] quits)" in r.stdout


def _post(admin, path, body):
    import json
    import urllib.request

    req = urllib.request.Request(admin + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.mark.parametrize("plan", [{"status": 500}, [{"status": "500"}], [{"drop_after": True}],
                                  [{"truncate": 10}], ["status"]])
def test_a_bad_fault_plan_is_refused_when_posted(admin, plan):
    import urllib.error

    fw = os.path.join(ROOT, "tests", "fixtures", "fwup", "F01_raw_write_basic", "signed.fw")
    _post(admin, "/admin/firmware", {"file": fw, "name": "plan.fw"})
    with pytest.raises(urllib.error.HTTPError) as e:
        _post(admin, "/admin/firmware/plan.fw/faults", {"faults": plan})
    assert e.value.code == 400
    good = [{"status": 500}, {"drop_after": 10}, {"stall": True, "stall_after": 0, "stall_s": 0.5},
            {"ignore_range": True}]
    assert _post(admin, "/admin/firmware/plan.fw/faults", {"faults": good})["faults"] == good


def test_faults_for_a_firmware_not_hosted_says_how_to_host_it(admin):
    r = _nhl_hub("--admin", admin, "faults", "never.fw", "[]")
    assert r.returncode == 1
    assert "unknown firmware 'never.fw'" in r.stderr and "nhl hub deploy" in r.stderr


def test_init_refuses_to_replace_an_existing_simulator_directory(tmp_path):
    d = tmp_path / "sim"
    assert _nhl_hub("--init", str(d)).returncode == 0
    ca = (d / "ca.der").read_bytes()
    r = _nhl_hub("--init", str(d))
    assert r.returncode == 1
    assert "already a simulator directory" in r.stderr
    assert (d / "ca.der").read_bytes() == ca


def test_serve_on_a_port_in_use_says_so(tmp_path):
    import socket

    init_dir(str(tmp_path / "sim"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        r = _nhl_hub("--dir", str(tmp_path / "sim"), "--port", "0", "--admin-port",
                     str(s.getsockname()[1]))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "cannot listen" in r.stderr


@pytest.mark.parametrize("action", [(), ("devices",)])
def test_a_damaged_hub_json_is_reported(tmp_path, action):
    (tmp_path / "hub.json").write_text("{bad")
    r = _nhl_hub("--dir", str(tmp_path), *action)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and str(tmp_path) in r.stderr
