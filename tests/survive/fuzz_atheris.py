"""Coverage-guided fuzzing (atheris/libFuzzer) of the archive path, meta.conf and U-Boot env.

    python tests/survive/fuzz_atheris.py TARGET [libFuzzer flags, e.g. -runs=100000]

TARGET is ``applier``, ``metaconf`` or ``uboot_env``. Any exception other than our
``NervesHubError`` family is a finding (libFuzzer writes the crashing input to ``crash-*``).
Optional: ``pip install atheris`` (not a dev dependency).
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for p in ("lib", "tests", "tests/survive"):
    sys.path.insert(0, os.path.join(ROOT, p))

import atheris  # noqa: E402

with atheris.instrument_imports():
    from nerves_hub_link.errors import NervesHubError
    from nerves_hub_link.fwup import metaconf, uboot_env
    from nerves_hub_link.fwup.applier import Applier

from doubles.powercut import RamDevice  # noqa: E402
from nerves_hub_link.fwup.create import generate_keys  # noqa: E402

PUB = generate_keys(b"\x11" * 32)[0]


def applier(data):
    dev = RamDevice(bytes(32 * 512))
    a = Applier(dev, "upgrade", public_keys=[PUB])
    try:
        a.feed(data)
        a.finish()
    except NervesHubError:
        if any(dev.data):
            raise AssertionError("a refused archive wrote to the device")


def meta(data):
    try:
        metaconf.load(data)
    except NervesHubError:
        pass


def uenv(data):
    half = len(data) // 2
    try:
        uboot_env.decode(data, True)
    except NervesHubError:
        pass
    if half >= 5:
        try:
            uboot_env.choose(data[:half], data[half:2 * half])
        except NervesHubError:
            pass


TARGETS = {"applier": applier, "metaconf": meta, "uboot_env": uenv}


def main():
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0]] + sys.argv[2:], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
