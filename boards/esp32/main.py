# ESP32 main.py: settle the A/B state first (a rolled-back update is reported), then run the
# NervesHub link. An update is written to the other OTA slot, activated with set_boot() and
# the board resets; the new app is confirmed once it has joined NervesHub, otherwise the
# bootloader returns to the previous app at the next reset.
import nhl_board
import nhl_esp32

board = nhl_esp32.Esp32Board()
print("nerves_hub_link: slot %s, %s" % (board.running, board.boot()))
nhl_board.run(board, "/nhl/config.json")
