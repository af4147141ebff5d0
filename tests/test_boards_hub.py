"""The ESP32 board HAL end to end on the MicroPython unix port: the esp32 doubles run the
real link (``nhl_board.run``) against ``nhl hub`` over TLS. An archive whose image set_boot()
refuses ends as ``failed`` at the server without a reset; then a good update is downloaded,
applied into ota_1, activated with set_boot(), the chip resets into the new app on trial, and
the app is confirmed once it has joined again."""

import os
import subprocess

import pytest
from nerves_hub_link.fwup import create, keygen
from nhl.hub import firmware as hubfw
from nhl.hub import init_dir
from nhl.hub.testing import ROOT, DeviceProcess, HubThread, device_config, micropython_binary

MICROPYPATH = "lib:tests/doubles:boards/common:boards/esp32:boards/unix:.frozen"


class BoardProcess(DeviceProcess):
    """``tests/doubles/board_device.py`` with DeviceProcess's line waiting."""

    def __init__(self, config_path, scratch, boots):
        import queue
        import threading

        self.interp = "micropython-esp32"
        self.lines = []
        self._q = queue.Queue()
        self.proc = subprocess.Popen(
            [micropython_binary(), "tests/doubles/board_device.py", config_path, scratch,
             str(boots)], cwd=ROOT, env=dict(os.environ, MICROPYPATH=MICROPYPATH),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()
        self._seen = 0


@pytest.fixture
def hub(tmp_path):
    d = tmp_path / "hub"
    init_dir(str(d))
    h = HubThread(str(d))
    yield h
    h.stop()


def test_esp32_board_updates_from_the_hub_and_confirms_the_new_app(hub, tmp_path):
    pub, priv = keygen.generate_keys()
    keygen.write_key_files(str(tmp_path / "k"), pub, priv)
    app = bytearray(os.urandom(60000))
    app[0], app[1] = 0xE9, 4
    (tmp_path / "app2.bin").write_bytes(bytes(app))
    (tmp_path / "combined.bin").write_bytes(b"\x00" + bytes(app[1:]))  # not an app image

    def archive(name, image, version):
        path = str(tmp_path / name)
        create.create_archive(os.path.join(ROOT, "boards/esp32/fwup.conf"), path,
                              private_key=str(tmp_path / "k.priv"),
                              env=dict(os.environ, OTA_0_BLOCK="256", OTA_1_BLOCK="512",
                                       OTA_BLOCKS="256", NHL_APP_IMAGE=str(tmp_path / image),
                                       NERVES_FW_VERSION=version))
        return path

    fw_path = archive("esp32-v2.fw", "app2.bin", "2.0.0")
    bad_path = archive("esp32-bad.fw", "combined.bin", "3.0.0")

    def offer(path):
        fw = hub.hub.add_firmware(path, os.path.basename(path))
        payload = hubfw.update_payload(hub.hub.firmware_url(fw.name), fw.path, fw.meta)
        hub.call(hub.hub.push("device-1", "device", "update", payload))

    cfg = device_config(hub, str(tmp_path), "esp32",
                        fwup_public_keys=[(tmp_path / "k.pub").read_text().strip()])
    scratch = str(tmp_path / "chip")
    dev = BoardProcess(cfg, scratch, boots=3)
    try:
        dev.wait_line(r"board: boot 0 slot a", timeout=20)
        hub.wait(lambda s: "device" in getattr(s.devices.get("device-1"), "joined", ()),
                 timeout=30, what="the board to join")
        # set_boot() refuses the image: the update fails, the board keeps running slot a.
        offer(bad_path)
        dev.wait_line(r"update status: failed", timeout=60)
        offer(fw_path)
        dev.wait_line(r"board: reset", timeout=60)
        dev.wait_line(r"board: boot 1 slot b", timeout=10)
        dev.wait_line(r"slot b marked valid", timeout=30)
    finally:
        dev.stop()
    with open(os.path.join(scratch, "ota_1.bin"), "rb") as f:
        assert f.read(len(app)) == bytes(app)
    msgs = [m["payload"] for m in hub.messages("device-1", "status_update")]
    statuses = [m.get("status") for m in msgs]
    assert statuses.count("failed") == 1 and statuses[-1] == "completed", statuses
    failed = [m for m in msgs if m.get("status") == "failed"][0]
    assert "-5379" in str(failed), failed  # ESP-IDF's validation error reached the server
    assert dev.count(r"board: reset") == 1
    assert "board: reset" in dev.lines and dev.count(r"board: boot 2") == 0
