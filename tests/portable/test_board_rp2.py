# heapsize: 512K
# The Pico W HAL (boards/rp2): app slots on the VFS, the U-Boot-env KV as fwup device,
# sys.path selection at boot, abandoning a slot that never validated, the path_write guard.
import sys

for _p in ("tests/doubles", "boards/common", "boards/rp2"):
    sys.path.insert(0, _p)
import boardkit  # noqa: E402
import machine  # noqa: E402
import nhl_rp2  # noqa: E402
from nerves_hub_link import firmware  # noqa: E402
from nerves_hub_link.errors import UpdateError  # noqa: E402
from support import IS_MICROPYTHON, raises  # noqa: E402

if not IS_MICROPYTHON:
    for _p in ("tests/doubles", "boards/common", "boards/rp2"):
        sys.path.remove(_p)
    for _m in ("boardkit", "machine", "nhl_rp2", "nhl_flashmap", "nhl_envkv"):
        sys.modules.pop(_m, None)

ROOT = boardkit.tmpdir() + "/rp2root"


def fresh(active=None):
    boardkit.rmtree(ROOT)
    board = nhl_rp2.Rp2Board(ROOT)
    if active:
        board.kv.set({"nerves_fw_active": active})  # provisioned: the next update goes elsewhere
        board = nhl_rp2.Rp2Board(ROOT)
    return board


def put(path, text):
    with open(path, "w") as f:
        f.write(text)


def start(board_root=ROOT):
    """A boot: a new HAL object, boot(), then import the app of the chosen slot."""
    for p in [p for p in sys.path if p.startswith(ROOT)]:
        sys.path.remove(p)
    sys.modules.pop("app", None)
    board = nhl_rp2.Rp2Board(board_root)
    state = board.boot()
    version = None
    if board.slot:
        import app

        version = app.VERSION
    return board, state, version


def install(board, version):
    """What an upgrade archive does: path_write the app into the next slot, switch the KV."""
    slot = board.prepare()
    guard = board.path_guard()
    with guard.open("/nhl/%s/app.py" % slot) as f:
        f.write(("VERSION = %r\n" % version).encode())
    put(guard.resolve("/nhl/%s/lib/helper.py" % slot), "X = 1\n")
    board.kv.set({"nerves_fw_active": slot, slot + ".nerves_fw_version": version,
                  slot + ".nerves_fw_platform": "rp2", slot + ".nerves_fw_architecture": "arm"})
    return board.activate()


def reset(board):
    raises(machine.DeviceReset, board.reboot)
    return start()


def test_first_boot_without_an_app_runs_nothing_from_the_slots():
    fresh()
    board, state, version = start()
    assert state == firmware.VALID and board.slot is None and version is None
    assert board.next_slot() == "a" and board.writable_slots() == ("a", "b")
    assert board.kv.get("nerves_fw_active") == "a"  # so the first upgrade task matches


def test_update_runs_the_new_slot_and_stays_after_mark_valid():
    board = fresh("b")
    assert install(board, "1.0.0") == "a"
    board, state, version = reset(board)
    assert (state, board.slot, version) == (firmware.TRIAL, "a", "1.0.0")
    assert sys.path[0] == ROOT + "/a"
    board.mark_valid()
    board, state, version = reset(board)
    assert (state, version) == (firmware.VALID, "1.0.0")
    assert install(board, "2.0.0") == "b"
    board, state, version = reset(board)
    assert (state, version) == (firmware.TRIAL, "2.0.0")
    board.mark_valid()
    board, state, version = reset(board)
    assert (state, version) == (firmware.VALID, "2.0.0")


def test_slot_that_never_validates_is_abandoned_on_the_next_boot():
    board = fresh("b")
    install(board, "1.0.0")
    board, _, _ = reset(board)
    board.mark_valid()
    install(board, "2.0.0")
    board, state, version = reset(board)
    assert (state, version) == (firmware.TRIAL, "2.0.0")
    # 2.0.0 crashes before it validates: the next boot goes back to 1.0.0.
    board, state, version = reset(board)
    assert (state, board.slot, version) == (firmware.REVERTED, "a", "1.0.0")
    assert board.fw.auto_revert_detected()
    board, state, version = reset(board)
    assert (state, version) == (firmware.VALID, "1.0.0")


def test_prepare_removes_stale_files_of_the_next_slot():
    board = fresh("b")
    install(board, "1.0.0")
    board, _, _ = reset(board)
    boardkit.makedirs(ROOT + "/b/lib")
    put(ROOT + "/b/old.py", "")
    put(ROOT + "/b/lib/old2.py", "")
    assert board.prepare() == "b"
    import os

    assert os.listdir(ROOT + "/b") == []
    assert "app.py" in os.listdir(ROOT + "/a")


def test_path_guard_refuses_the_running_slot_and_escapes():
    board = fresh("b")
    install(board, "1.0.0")
    board, _, _ = reset(board)
    assert board.running == "a"
    guard = board.path_guard()
    assert guard.resolve("/nhl/b/app.mpy") == ROOT + "/b/app.mpy"
    for bad in ("/nhl/a/app.mpy", "/main.py", "/nhl/b/../a/app.py", "/nhl/bx/app.py",
                "/nhl/b", "/nhlx/b/app.py", ROOT + "/b/app.py"):
        e = raises(UpdateError, guard.resolve, bad)
        assert "outside the slots" in str(e)
    # Before any slot runs an app, provisioning may write either slot.
    assert fresh().path_guard().slots == ("a", "b")


def test_path_guard_refuses_directory_paths():
    board = fresh("b")
    install(board, "1.0.0")
    board, _, _ = reset(board)
    guard = board.path_guard()
    for bad in ("/nhl/b/", "/nhl/b/lib/"):
        e = raises(UpdateError, guard.resolve, bad)
        assert "outside the slots" in str(e)


def test_activate_refuses_a_slot_without_an_app():
    board = fresh("b")
    install(board, "1.0.0")
    board, _, _ = reset(board)
    board.prepare()
    board.kv.set({"nerves_fw_active": "b"})
    e = raises(UpdateError, board.activate)
    assert "holds no app" in str(e)
    assert board.kv.get("nerves_fw_active") == "a"
    e = raises(UpdateError, board.activate)
    assert "did not switch slots" in str(e)


def test_env_file_is_a_uboot_environment():
    board = fresh()
    board.kv.set({"nerves_fw_active": "a"})
    with open(ROOT + "/fwenv.bin", "rb") as f:
        raw = f.read()
    assert len(raw) == 8192 and raw[4:24] == b"nerves_fw_active=a\x00\x00"
