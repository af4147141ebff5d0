# heapsize: 1M
# boards/common/nhl_board.py: Wi-Fi join against the network double, the board HAL for the
# link, BoardFirmware delegating to the board (what the update manager calls).
import sys

for _p in ("tests/doubles", "boards/common", "boards/esp32"):
    sys.path.insert(0, _p)
import boardkit  # noqa: E402
import esp32  # noqa: E402
import machine  # noqa: E402
import network  # noqa: E402
import nhl_board  # noqa: E402
import nhl_esp32  # noqa: E402
from nerves_hub_link import firmware  # noqa: E402
from nerves_hub_link.errors import TransportError, UpdateError  # noqa: E402
from support import IS_MICROPYTHON, raises  # noqa: E402

if not IS_MICROPYTHON:
    for _p in ("tests/doubles", "boards/common", "boards/esp32"):
        sys.path.remove(_p)
    for _m in ("boardkit", "esp32", "machine", "network", "nhl_board", "nhl_esp32",
               "nhl_flashmap", "nhl_envkv"):
        sys.modules.pop(_m, None)

TMP = boardkit.tmpdir("glue")


def board():
    boardkit.rmtree(TMP + "/env.bin")
    esp32.reset_chip(image=boardkit.image(4096, 1))
    return nhl_esp32.Esp32Board(TMP + "/env.bin")


def test_wifi_joins_a_known_network():
    network.known["lab"] = "secret"
    slept = []
    wlan = nhl_board.wifi_connect("lab", "secret", network=network, sleep_ms=slept.append)
    assert wlan.isconnected() and wlan.active() and wlan.connects == 1
    assert wlan.ifconfig()[0] == "192.168.4.20"


def test_wifi_wrong_password_fails_with_the_status():
    network.known["lab"] = "secret"
    e = raises(TransportError, nhl_board.wifi_connect, "lab", "nope", network=network,
               sleep_ms=lambda ms: None)
    assert "'lab' not joined (status -3" in str(e) and "wifi.json" in str(e)


def test_wifi_gives_up_after_the_timeout():
    class Slow(network.WLAN):
        def connect(self, ssid=None, key=None, **kw):
            self._status = network.STAT_CONNECTING

    class Net:
        STA_IF = network.STA_IF

        @staticmethod
        def WLAN(i):
            return Slow(i)

    waited = []
    e = raises(TransportError, nhl_board.wifi_connect, "far", "x", timeout_ms=500,
               network=Net, sleep_ms=waited.append)
    assert "after 500 ms" in str(e) and sum(waited) == 500


def test_board_hal_gives_the_link_what_it_needs():
    b = board()
    hal = nhl_board.BoardHAL(b, TMP + "/data")
    assert hal.kv is b.kv and hal.block_device("ignored") is b.dev
    t0 = hal.ticks_ms()
    assert hal.ticks_ms() >= t0
    assert hal.unix_time() > 1700000000  # 1970 epoch on every port
    assert len(hal.rand(16)) == 16
    raises(machine.DeviceReset, hal.reboot)
    assert hal.reboot_requested


def test_board_firmware_drives_the_board():
    b = board()
    fw = nhl_board.BoardFirmware(b)
    assert fw.validate_on_boot() == firmware.VALID and fw.active() == "a"
    e = raises(UpdateError, fw.after_update, "a")  # nothing was written to slot b
    assert "did not switch slots" in str(e)
    b.dev.writeblocks(0x40000 // 512, boardkit.image(8192, 2))
    b.kv.set({"nerves_fw_active": "b"})
    assert fw.after_update("a") == "b" and esp32.chip.boot_label == "ota_1"
    raises(machine.DeviceReset, b.reboot)
    b2 = nhl_esp32.Esp32Board(TMP + "/env.bin")
    fw2 = nhl_board.BoardFirmware(b2)
    assert fw2.validate_on_boot() == firmware.TRIAL and not fw2.is_valid()
    assert fw2.mark_valid() is True and fw2.mark_valid() is False
    assert esp32.chip.states["ota_1"] == esp32.STATE_VALID
