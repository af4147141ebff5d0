# ruff: noqa: F821  (metadata/include/package/module come from the manifest tool)
# A unix-port micropython with nerves_hub_link frozen in:
#   make -C ports/unix FROZEN_MANIFEST=$PWD/boards/unix/manifest.py
# then `micropython boards/unix/main.py --config device.json` needs no MICROPYPATH for the library.
metadata(description="nerves_hub_link for the MicroPython unix port", version="0.1.0",
         license="Apache-2.0")
include("$(PORT_DIR)/variants/standard/manifest.py")  # the standard build's: asyncio, mip, ssl
include("../common/manifest.py")
module("nhl_port.py")
