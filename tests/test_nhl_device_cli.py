"""`nhl device` command-line errors: exit 2 with the reason, no traceback, no endless retries."""

import json
import os
import subprocess
import sys

import pytest
from nhl.hub import init_dir
from nhl.hub.testing import micropython_binary


def _nhl_device(tmp_path, cfg, *args, interp="cpython"):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(cfg))
    if interp == "micropython":
        env = dict(os.environ, MICROPYPATH="lib:boards/unix:.frozen")
        cmd = [micropython_binary(), "boards/unix/main.py", "--config", str(path), *args]
    else:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            os.path.abspath(p) for p in ("lib", "port_cpython", "tools")))
        cmd = [sys.executable, "-m", "nhl", "device", "--config", str(path),
               "--log-level", "error", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def hub_files(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("hub"))
    init_dir(d, devices=("device-1",))
    return d


def _cfg(hub_files, tmp_path, **over):
    cfg = {"host": "127.0.0.1", "port": 1, "sni": "localhost", "identifier": "device-1",
           "ca_certs": os.path.join(hub_files, "ca.der"),
           "cert": os.path.join(hub_files, "devices", "device-1.der"),
           "key": os.path.join(hub_files, "devices", "device-1-key.der"),
           "data_path": str(tmp_path / "data"), "socket": {"reconnect_after_ms": [50]}}
    cfg.update(over)
    return cfg


def test_bad_reconnect_ms_is_a_usage_error(hub_files, tmp_path):
    r = _nhl_device(tmp_path, _cfg(hub_files, tmp_path), "--reconnect-ms", "100,abc")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "--reconnect-ms '100,abc' is not a list of integers" in r.stderr


@pytest.mark.parametrize("field, words", [("key", "client key is not"),
                                          ("ca_certs", "cannot load the CA certificates")])
def test_unloadable_tls_file_exits_2_instead_of_retrying(hub_files, tmp_path, field, words):
    junk = tmp_path / "junk.der"
    junk.write_bytes(b"not a DER object\n")
    r = _nhl_device(tmp_path, _cfg(hub_files, tmp_path, **{field: str(junk)}))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert words in r.stderr and str(junk) in r.stderr
    assert "connecting" not in r.stdout


@pytest.mark.parametrize("field", ["key", "ca_certs"])
def test_unix_device_unloadable_tls_file_exits_2(hub_files, tmp_path, field):
    junk = tmp_path / "junk.der"
    junk.write_bytes(b"not a DER object\n")
    r = _nhl_device(tmp_path, _cfg(hub_files, tmp_path, **{field: str(junk)}),
                    interp="micropython")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "nhl: error: config: TLS material does not load" in r.stdout
    assert str(junk) in r.stdout and "connecting" not in r.stdout


def test_unix_device_refuses_an_unknown_on_reboot_mode(hub_files, tmp_path):
    r = _nhl_device(tmp_path, _cfg(hub_files, tmp_path), "--on-reboot", "reboot",
                    interp="micropython")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "--on-reboot must be restart or exit, got 'reboot'" in r.stdout


@pytest.mark.parametrize("interp", ["cpython", "micropython"])
def test_set_without_equals_is_a_usage_error(hub_files, tmp_path, interp):
    r = _nhl_device(tmp_path, _cfg(hub_files, tmp_path), "--set", "remote_console",
                    interp=interp)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "--set 'remote_console' is not KEY=JSON" in r.stdout


@pytest.mark.parametrize("port", ["70000", "0", "x"])
def test_port_flag_outside_the_range_is_a_usage_error(hub_files, tmp_path, port):
    r = _nhl_device(tmp_path, _cfg(hub_files, tmp_path), "--port", port)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "is not a port (1..65535)" in r.stderr and "connecting" not in r.stdout


@pytest.mark.parametrize("interp", ["cpython", "micropython"])
def test_uncreatable_data_path_exits_2(hub_files, tmp_path, interp):
    (tmp_path / "file").write_text("")
    bad = str(tmp_path / "file" / "data")
    r = _nhl_device(tmp_path, _cfg(hub_files, tmp_path, data_path=bad), interp=interp)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "cannot create data_path %s" % bad in r.stdout
