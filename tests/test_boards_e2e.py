"""ESP32 and Pico W HALs with the real fwup applier, on CPython and on the MicroPython unix port.

Archives are built here with our creator from ``boards/esp32/fwup.conf`` and
``boards/rp2/fwup.conf``; ``tests/doubles/board_scenario.py`` then runs complete -> upgrade
-> failed validation -> rollback (plus refused archives) against the esp32/machine doubles.
"""

import os
import subprocess
import sys

import pytest
from nerves_hub_link.fwup import create, keygen

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
PATHS = "lib:tests/doubles:boards/common:boards/esp32:boards/rp2"
SLOT_GEOMETRY = {"OTA_0_BLOCK": "256", "OTA_1_BLOCK": "512", "OTA_BLOCKS": "256"}  # FACTORY_TABLE


def app_image(n, first=0xE9):
    b = bytearray(os.urandom(n))
    b[0], b[1] = first, 4
    return bytes(b)


def build(conf, out, key, env):
    full = dict(os.environ, SOURCE_DATE_EPOCH="1700000000", **env)
    create.create_archive(os.path.join(ROOT, conf), str(out), private_key=key, env=full)


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    d = tmp_path_factory.mktemp("board_archives")
    pub, priv = keygen.generate_keys()
    keygen.write_key_files(str(d / "fwup-key"), pub, priv)
    opub, opriv = keygen.generate_keys()
    keygen.write_key_files(str(d / "other-key"), opub, opriv)
    key, other = str(d / "fwup-key.priv"), str(d / "other-key.priv")
    (d / "app1.bin").write_bytes(app_image(50_000))
    (d / "app2.bin").write_bytes(app_image(70_000))
    (d / "bad.bin").write_bytes(app_image(30_000, first=0x00))
    for name, img, version, k in (("esp32-v1", "app1.bin", "1.0.0", key),
                                  ("esp32-v2", "app2.bin", "2.0.0", key),
                                  ("esp32-badimage", "bad.bin", "3.0.0", key),
                                  ("esp32-otherkey", "app2.bin", "4.0.0", other)):
        build("boards/esp32/fwup.conf", d / (name + ".fw"), k,
              dict(SLOT_GEOMETRY, NHL_APP_IMAGE=str(d / img), NERVES_FW_VERSION=version))
    for name, version, k in (("rp2-v1", "1.0.0", key), ("rp2-v2", "2.0.0", key),
                             ("rp2-otherkey", "4.0.0", other)):
        (d / (name + ".py")).write_text("VERSION = %r\n" % version)
        build("boards/rp2/fwup.conf", d / (name + ".fw"), k,
              dict(NHL_APP=str(d / (name + ".py")), NERVES_FW_VERSION=version))
    return d


def run_scenario(interp, name, archive_dir, scratch):
    if interp == "micropython":
        if not os.path.exists(MICROPYTHON):
            pytest.fail("micropython not found next to %s: run `make venv`" % sys.executable)
        cmd = [MICROPYTHON, "-X", "heapsize=640K"]
        env = dict(os.environ, MICROPYPATH=PATHS + ":.frozen")
    else:
        cmd = [sys.executable]
        env = dict(os.environ, PYTHONPATH=PATHS + ":port_cpython")
    cmd += ["tests/doubles/board_scenario.py", name, str(archive_dir), scratch]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "SCENARIO OK " + name in out, out
    return out


@pytest.mark.parametrize("interp", ["cpython", "micropython"])
def test_esp32_complete_upgrade_failed_validation_rollback(archives, interp):
    out = run_scenario(interp, "esp32", archives, "build/tmp_boards/e2e_esp32_" + interp)
    assert out.count("step:") == 6


@pytest.mark.parametrize("interp", ["cpython", "micropython"])
def test_rp2_complete_upgrade_failed_validation_rollback(archives, interp):
    out = run_scenario(interp, "rp2", archives, "build/tmp_boards/e2e_rp2_" + interp)
    assert out.count("step:") == 5
