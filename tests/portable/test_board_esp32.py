# heapsize: 1M
# The ESP32 HAL (boards/esp32, boards/common) against the esp32/machine doubles: flash map,
# erase-before-write, firmware KV, set_boot validation, confirm and rollback.
import sys

for _p in ("tests/doubles", "boards/common", "boards/esp32"):
    sys.path.insert(0, _p)
import boardkit  # noqa: E402
import esp32  # noqa: E402
import machine  # noqa: E402
import nhl_esp32  # noqa: E402
import nhl_flashmap  # noqa: E402
from nerves_hub_link import firmware  # noqa: E402
from nerves_hub_link.errors import BlockDeviceError, UpdateError  # noqa: E402
from support import IS_MICROPYTHON, raises  # noqa: E402

if not IS_MICROPYTHON:
    # Keep the doubles out of other CPython test modules' imports.
    for _p in ("tests/doubles", "boards/common", "boards/esp32"):
        sys.path.remove(_p)
    for _m in ("boardkit", "esp32", "machine", "nhl_esp32", "nhl_flashmap", "nhl_envkv"):
        sys.modules.pop(_m, None)

ENV_FILE = boardkit.tmpdir() + "/esp32_env.bin"
OTA0 = 0x20000
OTA1 = 0x40000


image = boardkit.image


def fresh(table=esp32.DEFAULT_TABLE, running="ota_0", img=None):
    try:
        import os

        os.remove(ENV_FILE)
    except OSError:
        pass
    esp32.reset_chip(table, running=running, image=img or image(4096, 1))
    return nhl_esp32.Esp32Board(ENV_FILE)


def write(board, addr, data):
    board.dev.writeblocks(addr // 512, data)
    board.dev.sync()


def reset(board):
    """machine.reset(): the chip reboots; returns the HAL of the new boot."""
    raises(machine.DeviceReset, board.reboot)
    return nhl_esp32.Esp32Board(ENV_FILE)


def test_double_nor_write_without_erase_ands_bits():
    esp32.reset_chip()
    p = esp32.Partition("ota_1")
    p.writeblocks(0, b"\xf0" * 4096)
    p.writeblocks(0, b"\x3c\x3c", 0)  # raw write, no erase
    buf = bytearray(3)
    p.readblocks(0, buf)
    assert bytes(buf) == b"\x30\x30\xf0"
    assert raises(OSError, p.writeblocks, 0, b"\x00" * 512).args[0] == esp32.ESP_ERR_INVALID_SIZE
    assert esp32.Partition(esp32.Partition.RUNNING).info()[4] == "ota_0"
    assert esp32.Partition("ota_0").get_next_update().info()[4] == "ota_1"
    assert p.ioctl(4, 0) == 0x20000 // 4096 and p.ioctl(5, 0) == 4096


def test_slots_are_mapped_at_their_flash_address():
    board = fresh()
    img = image(6000, 2)
    write(board, OTA1, img)
    buf = bytearray(len(img))
    esp32.Partition("ota_1").readblocks(0, buf)
    assert bytes(buf) == img
    back = bytearray(len(img))
    board.dev.readblocks(OTA1 // 512, back)
    assert back == buf
    assert board.dev.ioctl(5, 0) == 512
    assert board.running_slot() == "a" and board.next_slot() == "b"


def test_running_partition_is_never_written():
    board = fresh()
    before = bytes(esp32.chip.data["ota_0"])
    e = raises(BlockDeviceError, board.dev.writeblocks, OTA0 // 512, b"\x00" * 512)
    assert "running app 'ota_0'" in str(e)
    # A write that starts in ota_1 but runs past its end writes nothing at all.
    e = raises(BlockDeviceError, board.dev.writeblocks, (OTA1 + 0x20000 - 512) // 512,
               b"\x00" * 1024)
    assert "unmapped" in str(e)
    board.dev.sync()
    assert bytes(esp32.chip.data["ota_0"]) == before
    assert esp32.chip.data["ota_1"][-512:] == b"\xff" * 512


def test_partial_sectors_are_read_modified_and_erased_once():
    board = fresh()
    p = esp32.Partition("ota_1")
    p.writeblocks(1, b"\x55" * 4096)  # sector 1 holds old data
    erases = esp32.chip.erases
    # fwup streams 512-byte blocks: 7 of sector 1's 8 blocks, then a whole sector 2.
    for i in range(7):
        board.dev.writeblocks((OTA1 + 4096 + 512 * i) // 512, bytes([i]) * 512)
    board.dev.writeblocks((OTA1 + 8192) // 512, b"\xaa" * 4096)
    board.dev.ioctl(3, 0)
    d = esp32.chip.data["ota_1"]
    for i in range(7):
        assert d[4096 + 512 * i:4096 + 512 * (i + 1)] == bytes([i]) * 512
    assert d[4096 + 3584:8192] == b"\x55" * 512  # the untouched block kept its bytes
    assert d[8192:12288] == b"\xaa" * 4096
    assert esp32.chip.erases - erases == 2


def test_kv_lives_in_a_uboot_env_file():
    board = fresh()
    assert board.kv.all() == {} and not board.kv.valid
    board.kv.set({"nerves_fw_active": "a", "a.nerves_fw_version": "1.0.0"})
    again = nhl_esp32.Esp32Board(ENV_FILE)
    assert again.kv.get("a.nerves_fw_version") == "1.0.0" and again.kv.valid
    with open(ENV_FILE, "rb") as f:
        raw = f.read()
    assert len(raw) == nhl_esp32.ENV_BLOCK_COUNT * 512
    assert b"a.nerves_fw_version=1.0.0\x00nerves_fw_active=a\x00\x00" in raw
    board.kv.set({"a.nerves_fw_version": None})
    assert again.kv.all() == {"nerves_fw_active": "a"}


def test_kv_uses_the_nhl_env_data_partition_when_the_table_has_one():
    table = esp32.DEFAULT_TABLE + (("nhl_env", esp32.TYPE_DATA, 0x99, 0x60000, 0x2000),)
    board = fresh(table)
    board.kv.set({"nerves_fw_active": "a"})
    assert b"nerves_fw_active=a\x00" in bytes(esp32.chip.data["nhl_env"])
    try:
        open(ENV_FILE, "rb").close()
        made_file = True
    except OSError:
        made_file = False
    assert not made_file


def upgrade(board, img):
    """What the archive's upgrade task does: write the next slot, then set the KV."""
    slot = board.next_slot()
    write(board, OTA1 if slot == "b" else OTA0, img)
    board.kv.set({"nerves_fw_active": slot, slot + ".nerves_fw_version": "2.0.0"})


def test_unconfirmed_app_is_rolled_back_by_the_bootloader():
    board = fresh()
    assert board.boot() == firmware.VALID
    assert board.kv.get("nerves_fw_active") == "a"  # adopted the running slot
    upgrade(board, image(9000, 3))
    assert board.activate() == "b"
    assert board.kv.get("upgrade_available") == "1"
    board = reset(board)
    assert board.running_slot() == "b"
    assert board.boot() == firmware.TRIAL
    assert not board.fw.is_valid()
    # The new app never calls mark_valid(); the next reset goes back to slot a.
    board = reset(board)
    assert board.running_slot() == "a"
    assert board.boot() == firmware.REVERTED
    assert board.kv.get("nerves_fw_active") == "a"
    assert board.kv.get("b.nerves_fw_validated") == "0"
    assert board.fw.is_valid()
    assert board.boot() == firmware.REVERTED  # one answer per boot
    assert nhl_esp32.Esp32Board(ENV_FILE).boot() == firmware.VALID  # nothing left to do


def test_confirmed_app_stays():
    board = fresh()
    board.boot()
    upgrade(board, image(9000, 4))
    board.activate()
    board = reset(board)
    assert board.boot() == firmware.TRIAL
    board.mark_valid()
    assert board.kv.get("upgrade_available") == "0"
    assert board.kv.get("b.nerves_fw_validated") == "1"
    board = reset(board)
    assert board.running_slot() == "b"
    assert board.boot() == firmware.VALID
    board.mark_valid()  # safe on every boot


def test_set_boot_rejects_a_bad_image_and_keeps_the_old_slot():
    board = fresh()
    board.boot()
    bad = bytearray(image(5000, 5))
    bad[0] = 0x00  # not an app image (e.g. the combined flash .bin)
    upgrade(board, bytes(bad))
    e = raises(UpdateError, board.activate)
    assert "OSError -5379" in str(e) and "0xE9" in str(e)
    assert board.kv.get("nerves_fw_active") == "a"
    assert esp32.chip.boot_label == "ota_0"
    board = reset(board)
    assert board.running_slot() == "a" and board.boot() == firmware.VALID


def test_activate_refuses_an_archive_that_did_not_switch_slots():
    board = fresh()
    board.boot()
    e = raises(UpdateError, board.activate)
    assert "did not switch slots" in str(e)


def test_revert_boots_the_other_slot():
    board = fresh()
    board.boot()
    upgrade(board, image(7000, 6))
    board.activate()
    board = reset(board)
    board.boot()
    board.mark_valid()
    raises(machine.DeviceReset, board.revert)
    board = nhl_esp32.Esp32Board(ENV_FILE)
    assert board.running_slot() == "a"
    assert board.boot() == firmware.TRIAL and board.kv.get("nerves_fw_active") == "a"


def test_factory_app_may_write_both_slots():
    table = (("factory", esp32.TYPE_APP, 0x00, 0x10000, 0x10000),) + esp32.DEFAULT_TABLE[3:]
    board = fresh(table, running="factory")
    assert board.running_slot() is None and board.next_slot() == "a"
    assert board.boot() == firmware.VALID
    write(board, OTA0, image(3000, 7))
    board.kv.set({"nerves_fw_active": "a"})
    board.activate()
    board = reset(board)
    assert board.running_slot() == "a" and board.boot() == firmware.TRIAL


def test_i2c_reaches_an_attached_device():
    class Echo:
        last = b""

        def write(self, b):
            Echo.last = b

        def read(self, n):
            return Echo.last[:n]

    machine.attach_i2c(0x60, Echo())
    try:
        bus = fresh().i2c(0, scl=22, sda=21)
        bus.writeto(0x60, b"\x03\x07")
        buf = bytearray(2)
        bus.readfrom_into(0x60, buf)
        assert buf == b"\x03\x07"
        assert raises(OSError, bus.writeto, 0x61, b"x").args[0] == 19
    finally:
        machine.detach_all()


def test_flashmap_rejects_overlapping_windows():
    m = nhl_flashmap.FlashMap()
    m.add(0, nhl_flashmap.FileWindow(ENV_FILE, 1024, "x"))
    raises(BlockDeviceError, m.add, 1, nhl_flashmap.FileWindow(ENV_FILE, 1024, "y"))
    buf = bytearray(4)
    m.readblocks(100, buf)
    assert buf == b"\xff\xff\xff\xff"
