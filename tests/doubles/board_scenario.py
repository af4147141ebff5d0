"""Board update scenarios with the real fwup applier, for both interpreters.

Run from the repository root (``tests/test_boards_e2e.py`` does, on CPython and on the
MicroPython unix port)::

    MICROPYPATH=lib:tests/doubles:boards/common:boards/esp32:boards/rp2:.frozen \\
        micropython tests/doubles/board_scenario.py esp32|rp2 ARCHIVE_DIR [SCRATCH_DIR]

ARCHIVE_DIR holds ``fwup-key.pub`` and the archives the pytest side built with our creator.
The script prints one line per step and ``SCENARIO OK <name>`` at the end; any failure
raises (non-zero exit).
"""

import sys

import boardkit
import machine
from nerves_hub_link import firmware, fsutil
from nerves_hub_link.errors import NervesHubError, UpdateError
from nhl_board import BoardFirmware, applier_factory

CHUNK = 2048


def step(msg):
    print("step:", msg)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def file_digest(path, n=None):
    """SHA-256 of a file's first n bytes (all by default), read 4 KiB at a time."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = n
        while left is None or left > 0:
            chunk = f.read(4096 if left is None else min(4096, left))
            if not chunk:
                break
            h.update(chunk)
            if left is not None:
                left -= len(chunk)
    return h.digest()


def apply(board, path, task, pub):
    """Stream an archive through the board's applier factory (what the update manager uses)
    in small chunks, as a download would."""
    events = []
    a = applier_factory(board, task)([pub], events.append)
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            a.feed(chunk)
    a.finish()
    assert events[-1] == ("progress", 100), events[-3:]
    return a


def activate(board):
    """What the update manager does after a successful apply."""
    fw = BoardFirmware(board)
    return fw.after_update(board.running)


def expect_error(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


def esp32_scenario(d, scratch):
    import esp32
    import nhl_esp32

    pub = read(d + "/fwup-key.pub")
    env_file = scratch + "/esp32_env.bin"
    boardkit.rmtree(scratch)
    boardkit.makedirs(scratch)
    app1 = d + "/app1.bin"
    app2 = d + "/app2.bin"
    # Partition contents live in files, so the heap holds only the client.
    esp32.reset_chip(esp32.FACTORY_TABLE, running="factory", image=boardkit.image(8192, 99),
                     store_dir=scratch)

    def board():
        return nhl_esp32.Esp32Board(env_file)

    def reset(b):
        expect_error(machine.DeviceReset, b.reboot)
        return board()

    def slot(label, n=0x20000):
        return file_digest(scratch + "/" + label + ".bin", n)

    def same(label, path):
        return slot(label, fsutil.size(path)) == file_digest(path)

    step("factory app installs v1 into slot a (task complete)")
    b = board()
    assert b.boot() == firmware.VALID
    apply(b, d + "/esp32-v1.fw", "complete", pub)
    assert activate(b) == "a"
    assert same("ota_0", app1)
    b = reset(b)
    assert b.running_slot() == "a" and b.boot() == firmware.TRIAL
    assert BoardFirmware(b).mark_valid() is True
    assert b.kv.get("a.nerves_fw_version") == "1.0.0" and b.fw.is_valid()

    step("v2 upgrade goes to slot b and boots on trial")
    ota0 = slot("ota_0")
    apply(b, d + "/esp32-v2.fw", "upgrade", pub)
    assert b.kv.get("nerves_fw_active") == "b"
    assert activate(b) == "b"
    assert same("ota_1", app2)
    assert slot("ota_0") == ota0
    b = reset(b)
    assert b.running_slot() == "b" and b.boot() == firmware.TRIAL
    assert b.fw.slot_info()["nerves_fw_version"] == "2.0.0"

    step("v2 fails to validate: the bootloader rolls back to v1")
    b = reset(b)
    assert b.running_slot() == "a"
    assert b.boot() == firmware.REVERTED
    assert b.kv.get("nerves_fw_active") == "a" and b.fw.auto_revert_detected()
    assert slot("ota_0") == ota0
    b.mark_valid()

    step("an archive with a bad app image is refused by set_boot; slot a keeps booting")
    e = expect_error(UpdateError, apply, b, d + "/esp32-badimage.fw", "upgrade", pub)
    assert "-5379" in str(e)
    assert b.kv.get("nerves_fw_active") == "a"
    b = reset(b)
    assert b.running_slot() == "a" and b.boot() == firmware.VALID

    step("an archive that writes the running slot is stopped before it writes")
    e = expect_error(NervesHubError, apply, b, d + "/esp32-v2.fw", "complete", pub)
    assert "running app 'ota_0'" in str(e), e
    assert slot("ota_0") == ota0

    step("an archive signed with another key is refused before anything is written")
    ota1 = slot("ota_1")
    env = read(env_file)
    expect_error(NervesHubError, apply, b, d + "/esp32-otherkey.fw", "upgrade", pub)
    assert slot("ota_1") == ota1 and read(env_file) == env
    print("SCENARIO OK esp32")


def rp2_scenario(d, scratch):
    import nhl_rp2

    pub = read(d + "/fwup-key.pub")
    root = scratch + "/nhl"
    boardkit.rmtree(scratch)
    boardkit.makedirs(scratch)

    def boot():
        for p in [p for p in sys.path if p.startswith(root)]:
            sys.path.remove(p)
        sys.modules.pop("app", None)
        b = nhl_rp2.Rp2Board(root)
        state = b.boot()
        version = None
        if b.slot:
            import app

            version = app.VERSION
        return b, state, version

    def reset(b):
        expect_error(machine.DeviceReset, b.reboot)
        return boot()

    def update(b, name, task):
        apply(b, d + "/" + name, task, pub)  # the factory empties the writable slots first
        return activate(b)

    step("first install writes v1 into slot a (task complete)")
    b, state, version = boot()
    assert (state, b.slot, version) == (firmware.VALID, None, None)
    assert update(b, "rp2-v1.fw", "complete") == "a"
    b, state, version = reset(b)
    assert (state, b.slot, version) == (firmware.TRIAL, "a", "1.0.0")
    b.mark_valid()

    step("v2 goes to slot b; slot a's files are untouched")
    a_app = read(root + "/a/app.py")
    assert update(b, "rp2-v2.fw", "upgrade") == "b"
    assert read(root + "/a/app.py") == a_app
    b, state, version = reset(b)
    assert (state, b.slot, version) == (firmware.TRIAL, "b", "2.0.0")

    step("v2 never validates: the next boot abandons slot b")
    b, state, version = reset(b)
    assert (state, b.slot, version) == (firmware.REVERTED, "a", "1.0.0")
    assert b.fw.auto_revert_detected()
    b.mark_valid()
    b, state, version = reset(b)
    assert (state, version) == (firmware.VALID, "1.0.0")

    step("an archive that path_writes the running slot is refused")
    e = expect_error(NervesHubError, update, b, "rp2-v2.fw", "complete")
    assert "outside the slots" in str(e), e
    assert read(root + "/a/app.py") == a_app

    step("an archive signed with another key writes nothing")
    env = read(root + "/fwenv.bin")
    expect_error(NervesHubError, update, b, "rp2-otherkey.fw", "upgrade")
    assert read(root + "/fwenv.bin") == env and not b.has_app("b")
    print("SCENARIO OK rp2")


def apply_only(board_name, archive, pub_path, scratch):
    """One upgrade of a realistic archive on a fresh board (for heap measurements)."""
    import gc

    pub = read(pub_path)
    boardkit.rmtree(scratch)
    boardkit.makedirs(scratch)
    if board_name == "esp32":
        import esp32
        import nhl_esp32

        esp32.reset_chip(esp32.OTA_4MIB_TABLE, running="ota_0", image=boardkit.image(4096, 1),
                         store_dir=scratch)
        b = nhl_esp32.Esp32Board(scratch + "/env.bin")
    else:
        import nhl_rp2

        b = nhl_rp2.Rp2Board(scratch + "/nhl")
    b.boot()
    if board_name != "esp32":
        b.kv.set({"nerves_fw_active": "a"})
    gc.collect()
    free0 = gc.mem_free() if hasattr(gc, "mem_free") else 0
    apply(b, archive, "upgrade", pub)
    new = activate(b)
    gc.collect()
    print("APPLY OK slot %s heap-free-before %d after %d" % (
        new, free0, gc.mem_free() if hasattr(gc, "mem_free") else 0))


def main(argv):
    if argv[0] == "apply":
        apply_only(argv[1], argv[2], argv[3], argv[4])
        return
    name, d = argv[0], argv[1]
    scratch = argv[2] if len(argv) > 2 else boardkit.tmpdir("scenario_" + name)
    if name == "esp32":
        esp32_scenario(d, scratch)
    elif name == "rp2":
        rp2_scenario(d, scratch)
    else:
        raise SystemExit("unknown scenario %r" % name)


if __name__ == "__main__":
    main(sys.argv[1:])
