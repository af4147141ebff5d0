"""``nhl deploy``: the deploy plan (dry run) and a real mpremote deploy to the MicroPython
unix port behind a pty (``socat PTY,... EXEC:micropython,pty``)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from nhl import cmd_deploy, mpbuild

ROOT = mpbuild.ROOT
BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    os.path.join(ROOT, p) for p in ("lib", "port_cpython", "tools")))


def nhl(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "nhl", *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def device_files(tmp_path):
    """A device config naming a CA, a certificate and a key, plus a Wi-Fi file."""
    src = tmp_path / "src"
    (src / "pki").mkdir(parents=True)
    (src / "pki" / "ca.der").write_bytes(b"\x30\x82ca")
    (src / "pki" / "device.der").write_bytes(b"\x30\x82cert")
    (src / "pki" / "device-key.der").write_bytes(b"\x30\x82key")
    cfg = {"host": "hub.example.com", "port": 443, "ca_certs": ["pki/ca.der"],
           "cert": "pki/device.der", "key": "pki/device-key.der",
           "data_path": "/var/lib/nhl", "block_device": "/tmp/flash.img",
           "fwup_public_keys": ["x" * 44]}
    (src / "device.json").write_text(json.dumps(cfg))
    (src / "wifi.json").write_text(json.dumps({"ssid": "lab", "password": "secret"}))
    return src


def test_dry_run_prints_the_plan_without_connecting(device_files, tmp_path):
    stage = tmp_path / "stage"
    r = nhl("deploy", "--board", "esp32", "--port", "/dev/ttyUSB9", "--dry-run",
            "--config", str(device_files / "device.json"), "--wifi",
            str(device_files / "wifi.json"), "--stage", str(stage),
            "--mpremote", str(tmp_path / "no-such-mpremote"))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("deploy esp32 to /dev/ttyUSB9: ")
    assert "-march=xtensawin" in lines[0]
    for p in (":boot.py", ":main.py", ":lib/nerves_hub_link/link.mpy",
              ":lib/nerves_hub_link/fwup/applier.mpy", ":lib/nhl_esp32.mpy",
              ":lib/nhl_board.mpy", ":lib/unix_hal.mpy", ":nhl/config.json",
              ":nhl/wifi.json", ":nhl/certs/ca.der", ":nhl/certs/device-key.der"):
        assert any(line.strip().startswith(p + " ") for line in lines), p
    assert not any("create.mpy" in line for line in lines)
    assert "$ %s connect /dev/ttyUSB9 resume fs cp -r %s/ :" % (
        tmp_path / "no-such-mpremote", stage) in r.stdout
    assert lines[-1] == "dry run: nothing was copied"
    cfg = json.loads((stage / "nhl" / "config.json").read_text())
    assert cfg["ca_certs"] == ["certs/ca.der"] and cfg["cert"] == "certs/device.der"
    assert cfg["key"] == "certs/device-key.der" and cfg["data_path"] == "data"
    assert "block_device" not in cfg and cfg["host"] == "hub.example.com"
    with open(stage / "lib" / "nhl_esp32.mpy", "rb") as f:
        assert f.read(2) == b"M\x06"


def test_deploy_refuses_a_config_naming_a_missing_certificate(device_files, tmp_path):
    (device_files / "pki" / "device.der").unlink()
    r = nhl("deploy", "--board", "rp2040", "--port", "x", "--dry-run", "--config",
            str(device_files / "device.json"), "--stage", str(tmp_path / "s"))
    assert r.returncode == 1
    assert "config names 'pki/device.der'" in r.stderr and "does not exist" in r.stderr


def _socat():
    path = shutil.which("socat")
    if path:
        return path
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "socat"], capture_output=True,
                       timeout=300)
        path = shutil.which("socat")
    if not path:
        pytest.skip("socat is not installed and could not be installed (apt-get install socat)")
    return path


@pytest.fixture
def unix_device(tmp_path):
    """The MicroPython unix port on a pty; its working directory is the device filesystem."""
    socat = _socat()
    micropython = os.path.join(BIN, "micropython")
    assert os.path.exists(micropython), "micropython missing: run `make venv`"
    fs = tmp_path / "device-fs"
    fs.mkdir()
    pty = tmp_path / "ttyMP"
    env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
    proc = subprocess.Popen(
        [socat, "PTY,link=%s,raw,echo=0" % pty, "EXEC:%s,pty,raw,echo=0" % micropython],
        cwd=fs, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not pty.exists():  # wait for socat to create the pty link
        assert proc.poll() is None and time.monotonic() < deadline, "socat did not start"
        time.sleep(0.05)
    yield str(pty), fs
    os.killpg(proc.pid, signal.SIGTERM)  # socat and the micropython it started
    proc.wait(timeout=10)


def mpremote(pty, *args):
    return subprocess.run([os.path.join(BIN, "mpremote"), "connect", pty, "resume", *args],
                          capture_output=True, text=True, timeout=120)


def test_deploy_to_the_unix_port_through_a_pty(unix_device, device_files, tmp_path):
    pty, fs = unix_device
    stage = tmp_path / "stage"
    r = nhl("deploy", "--board", "unix", "--port", pty, "--config",
            str(device_files / "device.json"), "--stage", str(stage))
    assert r.returncode == 0, r.stdout + r.stderr
    staged = {os.path.relpath(os.path.join(d, f), stage): os.path.getsize(os.path.join(d, f))
              for d, _, fs_ in os.walk(stage) for f in fs_}
    on_device = {os.path.relpath(os.path.join(d, f), fs): os.path.getsize(os.path.join(d, f))
                 for d, _, fs_ in os.walk(fs) for f in fs_}
    assert staged == on_device
    assert "lib/nerves_hub_link/link.mpy" in on_device and "main.py" in on_device
    # The deployed .mpy files import on the device and the config loads with its certs.
    r = mpremote(pty, "exec",
                 "import sys; sys.path.insert(0, 'lib')\n"
                 "import nerves_hub_link.link as l, nhl_envkv\n"
                 "from nerves_hub_link.config import Config\n"
                 "c = Config.from_json_file('nhl/config.json')\n"
                 "print('IMPORTED', l.__file__, nhl_envkv.__file__)\n"
                 "print('CONFIG', c.host, c.cert, c.data_path)\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "IMPORTED lib/nerves_hub_link/link.mpy lib/nhl_envkv.mpy" in r.stdout
    assert "CONFIG hub.example.com nhl/certs/device.der nhl/data" in r.stdout
    # A second deploy copies only what changed since the first one (nothing, unless the
    # sources were edited in between).
    before = _hashes(stage)
    r = nhl("deploy", "--board", "unix", "--port", pty, "--config",
            str(device_files / "device.json"), "--stage", str(stage))
    assert r.returncode == 0, r.stdout + r.stderr
    after = _hashes(stage)
    unchanged = sum(1 for p in after if before.get(p) == after[p])
    assert unchanged > 0 and r.stdout.count("Up to date:") == unchanged
    assert after == _hashes(fs)


def _hashes(top):
    import hashlib

    out = {}
    for d, _, names in os.walk(top):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, top)] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_deploy_reports_an_unreachable_port(tmp_path):
    r = nhl("deploy", "--board", "unix", "--port", str(tmp_path / "no-tty"), "--no-lib",
            "--stage", str(tmp_path / "s"), timeout=120)
    assert r.returncode == 1
    assert "mpremote failed" in r.stderr


def test_stage_has_exactly_the_manifest_modules():
    plan = cmd_deploy.build_stage("rp2040", stage=os.path.join(ROOT, "build", "tmp_deploy_t"))
    libs = sorted(p[4:-4] + ".py" for p, _ in plan["files"] if p.startswith("lib/"))
    man = mpbuild.load_manifest(mpbuild.BOARDS["rp2040"])
    targets = [t for _s, t in man.files]
    # plus the hash code prebuilt as armv6m machine code
    native = ["nerves_hub_link/crypto/blake2b_native.py", "nerves_hub_link/crypto/sha512_native.py"]
    assert libs == sorted(targets + native)
    assert plan["mpy_bytes"] == sum(n for p, n in plan["files"] if p.startswith("lib/"))


def test_mip_install_of_the_package_json_files_through_a_pty(unix_device):
    pty, fs = unix_device
    for pkg in ("package.json", "boards/esp32/package.json"):
        r = mpremote(pty, "mip", "install", "--target", "lib", os.path.join(ROOT, pkg))
        assert r.returncode == 0, r.stdout + r.stderr
    assert (fs / "lib" / "nerves_hub_link" / "fwup" / "applier.py").is_file()
    assert (fs / "lib" / "nhl_esp32.py").is_file() and (fs / "lib" / "unix_hal.py").is_file()
    assert not (fs / "lib" / "nerves_hub_link" / "fwup" / "create.py").exists()
    r = mpremote(pty, "exec",
                 "import sys; sys.path.insert(0, 'lib')\n"
                 "import nerves_hub_link.update_manager, nhl_board\n"
                 "print('IMPORTED', nhl_board.__file__)\n")
    assert r.returncode == 0 and "IMPORTED lib/nhl_board.py" in r.stdout, r.stdout + r.stderr
