# Pico W boot.py: join Wi-Fi and set the clock (TLS checks need the real date).
# Wi-Fi credentials: /nhl/wifi.json = {"ssid": "...", "password": "..."} (nhl deploy --wifi).
import json

import nhl_board

try:
    with open("/nhl/wifi.json") as f:
        _wifi = json.load(f)
    nhl_board.wifi_connect(_wifi["ssid"], _wifi["password"])
    nhl_board.sync_clock()
except Exception as e:  # boot.py must never stop the board from reaching main.py
    print("boot: no network:", e)
