"""Damaged archives through the CLI: clear fwup-style errors, never a traceback, images intact.

Also the MicroPython heap checks: F08 (1 MiB resource) applied through the CLI under a small
``-X heapsize``, and running out of heap is an ordinary, undone failure.
"""

import os
import struct
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FX = os.path.join(ROOT, "tests", "fixtures", "fwup")
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
# Smallest heap measured through the CLI with code compiled from lib/ .py sources: F08 applies
# at 202K, then 204K/206K fail (fragmentation) and all from 208K work; plus a margin
MP_HEAP = "224K"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "lib") + os.pathsep + os.path.join(ROOT, "port_cpython")
    env["MICROPYPATH"] = os.path.join(ROOT, "lib") + ":.frozen"
    return env


def fwup(args, cwd, interp="cpython", heap="4M"):
    if interp == "cpython":
        cmd = [sys.executable, "-m", "nerves_hub_link.fwup"]
    else:
        if not os.path.exists(MICROPYTHON):
            pytest.skip("micropython not installed")
        cmd = [MICROPYTHON, "-X", "heapsize=" + heap, "-m", "nerves_hub_link.fwup"]
    return subprocess.run(cmd + args, cwd=cwd, env=_env(), capture_output=True, timeout=300)


def _read(*p):
    with open(os.path.join(FX, *p), "rb") as f:
        return f.read()


def _entry_data_start(fw, name):
    i = fw.find(b"PK\x03\x04")
    while i >= 0:
        nl, el = struct.unpack("<HH", fw[i + 26:i + 30])
        if fw[i + 30:i + 30 + nl] == name:
            return i + 30 + nl + el
        i = fw.find(b"PK\x03\x04", i + 4)
    raise AssertionError(name)


def _apply(tmp_path, fw, start=None, task="complete", key=True, interp="cpython"):
    d = os.path.join(FX, "F01_raw_write_basic")
    fwp = tmp_path / "in.fw"
    fwp.write_bytes(fw)
    out = tmp_path / "out.img"
    if out.exists():
        out.unlink()
    if start is not None:
        out.write_bytes(start)
    args = ["-a", "-q", "-d", str(out), "-t", task, "-i", str(fwp)]
    if key:
        args += ["-p", "../keys/fwup-key.pub"]
    r = fwup(args, d, interp)
    return r, out.read_bytes() if out.exists() else None


def _assert_clean(r):
    assert r.returncode in (0, 1)
    assert b"Traceback" not in r.stderr and b"Traceback" not in r.stdout, r.stderr[-2000:]
    if r.returncode:
        assert r.stdout.startswith(b"fwup: ") and r.stdout.endswith(b"\n"), r.stdout


GOOD_IMAGE = _read("F01_raw_write_basic", "s1_complete_fresh.img")


def test_every_truncation_fails_cleanly_or_gives_the_good_image(tmp_path):
    fw = _read("F01_raw_write_basic", "signed.fw")
    cd = fw.find(b"PK\x01\x02")
    need = cd - 16 + 24  # libarchive reads 24 bytes at the last data descriptor
    cuts = sorted(set(list(range(0, len(fw), 2503)) + [cd, need - 1, need, cd + 24, 31, 100]))
    for cut in cuts:
        r, img = _apply(tmp_path, fw[:cut])
        _assert_clean(r)
        if r.returncode == 0:
            assert cut >= need and img == GOOD_IMAGE, cut
        else:
            assert cut < need, cut
            # nothing fwup would have kept: the fresh output stays empty or whole segments
            assert len(img) % 131072 == 0


def test_bit_flips_are_caught(tmp_path):
    fw = _read("F01_raw_write_basic", "signed.fw")
    meta = _entry_data_start(fw, b"meta.conf")
    c_data = _entry_data_start(fw, b"data/c.bin")
    for pos, text in ((meta + 5, b"Unexpected meta.conf size: 0"), (c_data + 30000, b"ZIP bad CRC"),
                      (c_data - 60, b"")):
        bad = bytearray(fw)
        bad[pos] ^= 0x10
        r, img = _apply(tmp_path, bytes(bad))
        _assert_clean(r)
        assert r.returncode == 1, pos
        assert text in r.stdout, (pos, r.stdout)


def test_signature_cases(tmp_path):
    d = os.path.join(FX, "N_negative")
    cases = [("unsigned.fw", "fwup-key.pub", b"fwup: Expecting signed firmware archive.\n"),
             ("signed.fw", "other-key.pub",
              b"fwup: Firmware archive's meta.conf fails digital signature verification.\n"),
             ("tampered_meta_conf.fw", "fwup-key.pub",
              b"fwup: Firmware archive's meta.conf fails digital signature verification.\n")]
    for fw, key, text in cases:
        out = tmp_path / "o.img"
        r = fwup(["-a", "-q", "-d", str(out), "-t", "complete", "-p", "../keys/" + key,
                  "-i", fw], d)
        assert (r.returncode, r.stdout) == (1, text)
        assert out.read_bytes() == b""
    # --public-key on the command line, several keys: any one may match
    pub = _read("keys", "fwup-key.pub").decode()
    other = _read("keys", "other-key.pub").decode()
    out = tmp_path / "o2.img"
    r = fwup(["-a", "-q", "-d", str(out), "-t", "complete", "--public-key", other,
              "--public-key", pub, "-i", "signed.fw"], d)
    assert r.returncode == 0, r.stdout


def test_failed_ab_upgrade_keeps_env_and_running_slot(tmp_path):
    """F03: corrupt the rootfs of the upgrade: the U-Boot env and slot A stay byte-identical."""
    d = os.path.join(FX, "F03_ab_upgrade_uboot_redundant")
    start = _read("F03_ab_upgrade_uboot_redundant", "s1_complete.img")
    fw = bytearray(_read("F03_ab_upgrade_uboot_redundant", "unsigned.fw"))
    fw[_entry_data_start(bytes(fw), b"data/rootfs.img") + 40000] ^= 1
    fwp = tmp_path / "bad.fw"
    fwp.write_bytes(bytes(fw))
    out = tmp_path / "out.img"
    out.write_bytes(start)
    r = fwup(["-a", "-q", "-d", str(out), "-t", "upgrade", "-i", str(fwp)], d)
    assert r.returncode == 1 and r.stdout.startswith(b"fwup: ZIP bad CRC"), r.stdout
    img = out.read_bytes()
    assert img[16 * 512:48 * 512] == start[16 * 512:48 * 512]  # both env copies
    assert img[64 * 512:(64 + 118) * 512] == start[64 * 512:(64 + 118) * 512]  # slot A
    assert img == start


def test_memory_error_mid_upgrade_is_undone_like_any_failure(tmp_path):
    """F03 upgrade with the heap running out after slot B got data (a device that raises
    MemoryError on its 3rd write): fwup's error path, env and slot A byte-identical."""
    from nerves_hub_link.errors import FwupError
    from nerves_hub_link.fwup.applier import Applier
    from nerves_hub_link.fwup.blockdev import FileBlockDevice

    class Starved(FileBlockDevice):
        writes = 0

        def pwrite(self, offset, data):
            Starved.writes += 1
            if Starved.writes == 3:
                raise MemoryError
            super().pwrite(offset, data)

    start = _read("F03_ab_upgrade_uboot_redundant", "s1_complete.img")
    out = tmp_path / "out.img"
    out.write_bytes(start)
    dev = Starved(str(out))
    events = []
    app = Applier(dev, "upgrade", events=lambda *e: events.append(e), max_chunk=4096)
    fw = _read("F03_ab_upgrade_uboot_redundant", "unsigned.fw")
    with pytest.raises(FwupError) as ei:
        for i in range(0, len(fw), 4096):
            app.feed(fw[i:i + 4096])
        app.finish()
    dev.close()
    assert Starved.writes == 3 and str(ei.value).startswith("Out of memory")
    assert max(c for t, c, _x in events if t == "PR") > 0  # it failed mid-resource
    assert out.read_bytes() == start


def test_micropython_out_of_memory_is_a_clean_failure(tmp_path):
    """F03 upgrade on MicroPython at heaps around the smallest that works: each run either
    gives fwup's image or fails with fwup's error framing and leaves the image as it was."""
    from concurrent.futures import ThreadPoolExecutor

    from nerves_hub_link.fwup.framing import decode_frames

    d = os.path.join(FX, "F03_ab_upgrade_uboot_redundant")
    start = _read("F03_ab_upgrade_uboot_redundant", "s1_complete.img")
    good = _read("F03_ab_upgrade_uboot_redundant", "s2_upgrade_from_s1.img")

    def one(kib):
        out = tmp_path / ("%d.img" % kib)
        out.write_bytes(start)
        r = fwup(["-a", "-F", "-d", str(out), "-t", "upgrade", "-i", "signed.fw",
                  "-p", "../keys/fwup-key.pub"], d, interp="micropython", heap="%dK" % kib)
        return kib, r, out.read_bytes()

    outcomes = set()
    with ThreadPoolExecutor(max_workers=4) as ex:
        for kib, r, img in ex.map(one, range(160, 264, 8)):
            assert b"Traceback" not in r.stderr + r.stdout, (kib, r.stderr[-1500:])
            frames = decode_frames(r.stdout)
            if r.returncode == 0:
                assert img == good and frames[-1] == ("OK", 0, b""), kib
            else:
                assert r.returncode == 1 and frames[-1] == (
                    "ER", 0, b"Out of memory: the heap is too small for this archive"), kib
                assert img == start, kib
            outcomes.add(r.returncode)
    assert outcomes == {0, 1}


def test_output_errors(tmp_path):
    d = os.path.join(FX, "F01_raw_write_basic")
    r = fwup(["-a", "-q", "-d", str(tmp_path / "no" / "dir" / "x.img"), "-t", "complete",
              "-i", "signed.fw"], d)
    assert r.returncode == 1 and r.stdout.startswith(b"fwup: Cannot create"), r.stdout
    r = fwup(["-a", "-q", "-d", str(tmp_path / "x.img"), "-t", "complete",
              "-i", "missing.fw"], d)
    assert r.returncode == 1 and r.stdout.startswith(b"fwup: Cannot open"), r.stdout
    r = fwup(["-a", "--bogus"], d)
    assert r.returncode == 1 and b"unknown option" in r.stdout


def test_micropython_small_heap_applies_f08(tmp_path):
    d = os.path.join(FX, "F08_large_streaming")
    out = tmp_path / "f08.img"
    r = fwup(["-a", "-q", "-d", str(out), "-t", "complete", "-p", "../keys/fwup-key.pub",
              "-i", "signed.fw"], d, interp="micropython", heap=MP_HEAP)
    assert r.returncode == 0, (r.stdout[-500:], r.stderr[-2000:])
    assert out.read_bytes() == _read("F08_large_streaming", "s1_complete_file.img")


def test_micropython_streams_framed_stdin_and_truncated_input(tmp_path):
    d = os.path.join(FX, "F08_large_streaming")
    data = _read("F08_large_streaming", "signed.fw")
    packets = bytearray()
    for i in range(0, 300000, 4096):
        p = data[i:i + 4096]
        packets += struct.pack(">I", len(p)) + p
    if not os.path.exists(MICROPYTHON):
        pytest.skip("micropython not installed")
    imgs = []
    for cmd in ([sys.executable], [MICROPYTHON, "-X", "heapsize=" + MP_HEAP]):
        out = tmp_path / ("t%d.img" % len(imgs))
        r = subprocess.run(cmd + ["-m", "nerves_hub_link.fwup", "-a", "-q", "-F", "-d", str(out),
                                  "-t", "complete", "-i", "-"],
                           cwd=d, env=_env(), input=bytes(packets), capture_output=True,
                           timeout=300)
        assert r.returncode == 1 and b"Traceback" not in r.stderr
        assert r.stdout.endswith(b"ER\x00\x00ZIP decompression failed (-5)")
        imgs.append(out.read_bytes())
    # Full 128 KiB segments that fwup streams out stay; the partial first one is dropped.
    assert imgs[0] == imgs[1]
    assert len(imgs[0]) % 131072 == 0 and imgs[0][:131072] == bytes(131072)


def test_cli_closes_the_input_file_on_success_and_on_error(tmp_path, monkeypatch, capsys):
    # in-process: nerves_hub_link.fwup.cli is also what boards run, where a leaked file stays
    # open for the life of the interpreter
    from nerves_hub_link.fwup import cli, cli_apply

    opened = []

    def tracking_open(path, mode="r"):
        f = open(path, mode)
        opened.append(f)
        return f

    monkeypatch.setattr(cli_apply, "open", tracking_open, raising=False)
    good = os.path.join(FX, "F01_raw_write_basic", "signed.fw")
    bad = tmp_path / "bad.fw"
    bad.write_bytes(_read("F01_raw_write_basic", "signed.fw")[:300])
    out = str(tmp_path / "out.img")
    for fw, status in ((good, 0), (str(bad), 1)):
        for args in (["-a", "-d", out, "-t", "complete"], ["-V"], ["-m"], ["-l"]):
            del opened[:]
            assert cli.main(args + ["-i", fw]) == status, (args, fw, capsys.readouterr())
            assert len(opened) == 1 and opened[0].closed, (args, fw)


def test_cli_rejects_a_non_numeric_progress_range_with_a_message(tmp_path, capsys):
    from nerves_hub_link.fwup import cli

    fw = os.path.join(FX, "F01_raw_write_basic", "signed.fw")
    out = str(tmp_path / "out.img")
    assert cli.main(["-a", "-d", out, "-t", "complete", "-i", fw, "--progress-low", "ten"]) == 1
    assert "--progress-low/--progress-high take integers, got 'ten'" in capsys.readouterr().out


def test_cli_reports_an_input_read_error_without_a_traceback(tmp_path, monkeypatch, capsys):
    from nerves_hub_link.fwup import cli, cli_apply

    class FailingInput:
        def readinto(self, buf):
            raise OSError(5, "Input/output error")

        def close(self):
            pass

    monkeypatch.setattr(cli_apply, "open", lambda path, mode="r": FailingInput(), raising=False)
    out = str(tmp_path / "out.img")
    for args in (["-a", "-d", out, "-t", "complete"], ["-V"]):
        assert cli.main(args + ["-i", "x.fw"]) == 1
        assert "fwup: Error reading the input: OSError(5" in capsys.readouterr().out
