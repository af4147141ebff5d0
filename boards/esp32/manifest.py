# ruff: noqa: F821  (metadata/include/package/module come from the manifest tool)
# Frozen firmware for ESP32 with nerves_hub_link and A/B OTA:
#   make -C ports/esp32 BOARD=ESP32_GENERIC BOARD_VARIANT=OTA FROZEN_MANIFEST=$PWD/boards/esp32/manifest.py
# `nhl freeze --board esp32` compiles the same file list with mpy-cross -march=xtensawin.
metadata(description="nerves_hub_link for ESP32 (whole-firmware A/B updates)", version="0.1.0",
         license="Apache-2.0")
include("$(PORT_DIR)/boards/manifest.py")  # the port's own frozen modules (asyncio, ntptime...)
include("../common/manifest.py")
module("nhl_esp32.py")
