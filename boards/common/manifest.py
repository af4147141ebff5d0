# ruff: noqa: F821  (metadata/include/package/module come from the manifest tool)
# nerves_hub_link for a board: the portable package without the host-only archive creator,
# plus the glue every MicroPython board shares. Included by boards/<board>/manifest.py.
# (Executed by MicroPython's manifest tool with the current directory set to this file's.)
import os

# Only the host tools create archives; boards apply them.
HOST_ONLY = ("fwup/create.py", "fwup/fwupconf.py", "fwup/writer.py", "fwup/keygen.py")


def _package_files(top):
    out = []
    for d, _dirs, files in os.walk(top):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), top).replace(os.sep, "/")
                if rel not in HOST_ONLY:
                    out.append(rel)
    return sorted(out)


package("nerves_hub_link", files=_package_files("../../lib/nerves_hub_link"), base_path="../../lib")
module("nhl_flashmap.py")
module("nhl_envkv.py")
module("nhl_board.py")
module("unix_hal.py", base_path="../unix")  # tls + asyncio streams: the same on every port
