"""Firmware updates end to end: the simulator (`nhl hub`, CPython, TLS) and a device whose
link, update manager, downloader and fwup applier run over a flash image file, with its
firmware KV in the image's U-Boot environment. The device runs on CPython (in a thread of
this process) and on the MicroPython unix port (a subprocess running ``MP_DEVICE``).
Archives come from our own `fwup create` (tools/demo.py's A/B fwup.conf); expected images
from our fwup CLI."""

import os
import random
import subprocess
import zipfile

import pytest
from demo import (
    ENV_COUNT,
    ENV_OFFSET,
    ENV_REDUND,
    SLOT_BLOCKS,
    fwup_cli,
    make_keys,
    make_release,
    read_env,
    rootfs_bytes,
)
from e2e_kit import IDENT, FlashDevice, offer, provision_v1, statuses, wait_on_version
from nhl.hub.testing import ROOT, micropython_binary


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("fw"))
    pub, priv = make_keys(d)
    other_pub, other_priv = make_keys(str(tmp_path_factory.mktemp("other")))
    rel = {"dir": d, "pub": pub, "priv": priv,
           "v1": make_release(d, "1.0.0", priv),
           "v2": make_release(d, "2.0.0", priv),
           "v2_wrong_key": make_release(d, "2.0.0", other_priv, name="wrong-key.fw")}
    # hash mismatch: 2.0.0's signed meta.conf with the rootfs of another build of equal size
    imposter = make_release(d, "2.0.1", priv, rootfs=rootfs_bytes("imposter"), name="imp.fw")
    rel["v2_bad_hash"] = os.path.join(d, "bad-hash.fw")
    with zipfile.ZipFile(rel["v2"]) as good, zipfile.ZipFile(imposter) as imp, \
            zipfile.ZipFile(rel["v2_bad_hash"], "w", zipfile.ZIP_DEFLATED) as out:
        for name in ("meta.conf.ed25519", "meta.conf"):
            out.writestr(name, good.read(name))
        out.writestr("data/rootfs.img", imp.read("data/rootfs.img"))
    with open(pub) as f:
        rel["key"] = f.read().strip()
    return rel


# The same device on the MicroPython unix port: boots until it is not asked to reboot.
MP_DEVICE = """
import asyncio, sys
from nerves_hub_link import log
from nerves_hub_link.config import Config, build
from nerves_hub_link.fwup.blockdev import FileBlockDevice
from nerves_hub_link.link import Link
from nerves_hub_link.update_manager import attach
from nhl_envkv import EnvKV
from unix_hal import UnixHAL

cfg_path, flash, validate = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
boot = 0
while True:
    cfg = build(Config.from_json_file(cfg_path, {
        "download": {"time_between_retries_ms": 20, "idle_timeout_ms": 1500}}))
    hal = UnixHAL(cfg.data_path)
    dev = FileBlockDevice(flash)
    kv = EnvKV(dev, %d, %d, %d)
    link = Link(cfg, hal, kv=kv)
    attach(link, hal, dev=dev, validate_on_connect=validate, retry=cfg.download_retry())
    log.state("test-boot", kv.get("nerves_fw_active"))

    def on_reboot():
        with open(flash, "rb") as src, open("%%s.reboot-%%d" %% (flash, boot), "wb") as dst:
            while True:
                b = src.read(65536)
                if not b:
                    break
                dst.write(b)
        link.stop()

    hal.on_reboot = on_reboot
    asyncio.run(link.run())
    dev.close()
    if not hal.reboot_requested:
        break
    boot += 1
""" % (ENV_OFFSET, ENV_COUNT, ENV_REDUND)


class MPDevice:
    """``MP_DEVICE`` under ``micropython``; its output is kept in ``lines``."""

    def __init__(self, cfg_path, flash, validate, tmp_path):
        self.flash = flash
        self.errors = []
        script = str(tmp_path / "mp_device.py")
        with open(script, "w") as f:
            f.write(MP_DEVICE)
        env = dict(os.environ, MICROPYPATH="lib:boards/unix:boards/common:.frozen")
        self.log = open(str(tmp_path / "mp_device.log"), "w")
        self.proc = subprocess.Popen(
            [micropython_binary(), "-X", "heapsize=8M", script, cfg_path, flash,
             "1" if validate else "0"], cwd=ROOT, env=env, stdout=self.log,
            stderr=subprocess.STDOUT)

    @property
    def boots(self):
        with open(self.log.name) as f:
            return [ln.split(": ")[-1].strip() for ln in f if ln.startswith("nhl: test-boot:")]

    @property
    def reboot_images(self):
        out = []
        while os.path.exists("%s.reboot-%d" % (self.flash, len(out))):
            with open("%s.reboot-%d" % (self.flash, len(out)), "rb") as f:
                out.append(f.read())
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()
        with open(self.log.name) as f:
            print("---- micropython device output (tail) ----\n" + "".join(f.readlines()[-40:]))


@pytest.fixture(params=["cpython", "micropython"])
def device(request, hub, hub_dir, releases, tmp_path):
    started = []

    def start(validate=True):
        cfg, flash = provision_v1(hub, releases, tmp_path)
        if request.param == "cpython":
            d = FlashDevice(cfg, flash, validate)
        else:
            d = MPDevice(cfg, flash, validate, tmp_path)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
        assert not d.errors, d.errors


def _params(hub):
    rec = hub.device(IDENT)
    return (rec.join_params.get("device") or {}) if rec else {}


def _wait_status(hub, status, timeout=30):
    def ok(state):
        rec = state.devices.get(IDENT)
        return rec is not None and any(
            m.get("event") == "status_update" and (m.get("payload") or {}).get("status")
            in (status, "failed") for m in rec.messages if m.get("kind") == "frame")

    hub.wait(ok, timeout, "status %s" % status)


def test_update_with_drops_and_a_200_completes(hub, device, releases, tmp_path):
    d = device()
    wait_on_version(hub, "1.0.0")
    v1_image = open(d.flash, "rb").read()
    size = os.path.getsize(releases["v2"])
    rnd = random.Random(7)
    # five drops at random offsets; the 200-instead-of-206 answers the first resume, which
    # comes early (a 200 restarts the apply from byte 0, so what came before is fetched twice)
    faults = [{"drop_after": rnd.randrange(1, size // 40)},
              {"ignore_range": True, "drop_after": rnd.randrange(size // 10, size // 2)}]
    faults += [{"drop_after": rnd.randrange(1, size // 5)} for _ in range(3)]
    fw, _ = offer(hub, releases["v2"], "v2.fw", faults)
    _wait_status(hub, "completed")
    assert statuses(hub)[-1] == "completed", statuses(hub)
    wait_on_version(hub, "2.0.0")

    # the image at reboot time equals what our fwup CLI makes of the same .fw
    expected = str(tmp_path / "expected.img")
    with open(expected, "wb") as f:
        f.write(v1_image)
    r = fwup_cli("-a", "-d", expected, "-i", releases["v2"], "-t", "upgrade",
                 "-p", releases["pub"], "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    got = d.reboot_images[0]
    want = open(expected, "rb").read()
    env_lo, env_hi = ENV_OFFSET * 512, (ENV_REDUND + ENV_COUNT) * 512
    assert got[:env_lo] == want[:env_lo] and got[env_hi:] == want[env_hi:]
    env_got = read_env_bytes(got)
    env_want = read_env_bytes(want)
    trial = {"upgrade_available": "1", "bootcount": "0", "nerves_fw_validated": "0",
             "b.nerves_fw_validated": "0"}
    assert env_got == dict(env_want, **trial)  # plus the A/B trial keys of the manager

    requests = hub.run(lambda: list(fw.requests))
    assert [r["status"] for r in requests] == [200, 200, 206, 206, 206, 206]
    sent = sum(r["sent"] for r in requests)
    assert sent <= size * 1.05, (sent, size)
    values = [m["payload"]["value"] for m in hub.messages(IDENT, "fwup_progress")]
    assert values[-1] == 100 and values == sorted(values) and len(set(values)) == len(values)
    assert statuses(hub).count("started") == 6 and statuses(hub)[0] == "received"
    # after the reboot: slot b, validated once connected
    env = read_env(d.flash)
    assert env["nerves_fw_active"] == "b" and env["b.nerves_fw_validated"] == "1"
    assert env["upgrade_available"] == "0" and d.boots == ["a", "b"]


def read_env_bytes(image):
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(image)
        f.flush()
        return read_env(f.name)


@pytest.mark.parametrize("case", ["bad_signature", "hash_mismatch", "http_404"])
def test_failed_update_keeps_old_slot_and_connection(hub, device, releases, case):
    d = device()
    wait_on_version(hub, "1.0.0")
    before = open(d.flash, "rb").read()
    path = {"bad_signature": releases["v2_wrong_key"], "hash_mismatch": releases["v2_bad_hash"],
            "http_404": releases["v2"]}[case]
    faults = [{"status": 404}] if case == "http_404" else []
    offer(hub, path, case + ".fw", faults)
    _wait_status(hub, "failed")
    msgs = hub.messages(IDENT, "status_update")
    assert msgs[-1]["payload"]["status"] == "failed"
    reason = msgs[-1]["payload"]["reason"]
    assert {"bad_signature": "FWUP error", "hash_mismatch": "FWUP error",
            "http_404": "Download failed"}[case] in reason
    after = open(d.flash, "rb").read()
    slot_a = slice(64 * 512, (64 + SLOT_BLOCKS) * 512)
    env = slice(ENV_OFFSET * 512, (ENV_REDUND + ENV_COUNT) * 512)
    assert after[slot_a] == before[slot_a] and after[env] == before[env]
    if case != "hash_mismatch":
        assert after == before
    assert read_env(d.flash)["nerves_fw_active"] == "a"
    rec = hub.device(IDENT)
    assert rec.connection is not None and "device" in rec.joined and rec.connections == 1
    assert d.reboot_images == []


def test_slot_that_never_validates_is_left_on_next_reboot(hub, device, releases):
    d = device(validate=False)
    wait_on_version(hub, "1.0.0")
    uuid1 = _params(hub)["nerves_fw_uuid"]
    offer(hub, releases["v2"], "v2.fw")
    _wait_status(hub, "completed")
    wait_on_version(hub, "2.0.0")
    env = read_env(d.flash)
    assert env["nerves_fw_active"] == "b" and env["upgrade_available"] == "1"
    assert env["bootcount"] == "1"
    # the server reboots it; the trial slot never validated -> back on a
    hub.call(hub.hub.push(IDENT, "device", "reboot", {}))
    wait_on_version(hub, "1.0.0")
    assert _params(hub)["nerves_fw_uuid"] == uuid1
    assert _params(hub)["meta"]["firmware_auto_revert_detected"] is True
    env = read_env(d.flash)
    assert env["nerves_fw_active"] == "a" and env["b.nerves_fw_validated"] == "0"
    assert d.boots == ["a", "b", "a"]
