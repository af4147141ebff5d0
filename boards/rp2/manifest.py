# ruff: noqa: F821  (metadata/include/package/module come from the manifest tool)
# Frozen firmware for the Pico W / Pico 2 W with nerves_hub_link (app-only A/B updates):
#   make -C ports/rp2 BOARD=RPI_PICO_W FROZEN_MANIFEST=$PWD/boards/rp2/manifest.py
#   make -C ports/rp2 BOARD=RPI_PICO2_W FROZEN_MANIFEST=$PWD/boards/rp2/manifest.py
# `nhl freeze --board rp2040|rp2350` compiles it with mpy-cross -march=armv6m / armv7m.
# The app itself is not frozen: it lives in the slot directories and is updated by archives.
metadata(description="nerves_hub_link for the Pico W (app-only A/B updates)", version="0.1.0",
         license="Apache-2.0")
include("$(PORT_DIR)/boards/manifest.py")
include("../common/manifest.py")
module("nhl_rp2.py")
