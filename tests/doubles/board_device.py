"""An ESP32 (the esp32/machine doubles) running the real link on the MicroPython unix port.

    MICROPYPATH=lib:tests/doubles:boards/common:boards/esp32:boards/unix:.frozen \\
        micropython tests/doubles/board_device.py CONFIG SCRATCH BOOTS [4mib]

Slot a (ota_0) runs firmware 1.0.0; ``main.py``'s sequence (``Esp32Board`` + ``nhl_board.run``)
runs until ``machine.reset()``, then the simulated chip boots again (the bootloader picks the
slot), ``BOOTS`` times in all. Prints ``board: boot N slot S`` and ``board: reset``.
``4mib`` uses MicroPython's real 4 MiB OTA partition table (1.5 MiB slots at 0x10000 and
0x190000) instead of the small test table.
"""

import sys

import boardkit
import esp32
import machine
import nhl_board
import nhl_esp32


def main(argv):
    cfg, scratch, boots = argv[0], argv[1], int(argv[2])
    boardkit.rmtree(scratch)
    boardkit.makedirs(scratch)
    table = esp32.OTA_4MIB_TABLE if argv[3:] == ["4mib"] else esp32.DEFAULT_TABLE
    esp32.reset_chip(table, running="ota_0", image=boardkit.image(8192, 1),
                     store_dir=scratch)
    env = scratch + "/env.bin"
    nhl_esp32.Esp32Board(env).kv.set({
        "nerves_fw_active": "a", "a.nerves_fw_uuid": "11111111-1111-1111-1111-111111111111",
        "a.nerves_fw_product": "nhl-esp32", "a.nerves_fw_version": "1.0.0",
        "a.nerves_fw_platform": "esp32", "a.nerves_fw_architecture": "xtensa"})
    for n in range(boots):
        board = nhl_esp32.Esp32Board(env)
        print("board: boot %d slot %s" % (n, board.running))
        try:
            nhl_board.run(board, cfg)
        except machine.DeviceReset:
            print("board: reset")


main(sys.argv[1:])
