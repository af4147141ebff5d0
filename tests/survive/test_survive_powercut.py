"""Power cuts during A/B upgrades: cut the flash after write k (whole or torn), reboot like
U-Boot would, and require the old slot intact or the new slot fully verified. CI samples the
cut points of a small image; ``SOAK=1`` cuts at every write of a multi-segment image."""

import os
import random
import shutil

import pytest
from doubles.powercut import PowerCut, PowerCutDevice, RamDevice
from nerves_hub_link.fwup import uboot_env
from nerves_hub_link.fwup.create import create_archive, generate_keys
from survive_kit import (
    BLOCK,
    DEVICE_BLOCKS,
    ENV_A,
    ENV_B,
    ENV_BLOCKS,
    Bricked,
    Releases,
    apply,
    boot_env,
    reboot,
    rootfs,
)

SOAK = os.environ.get("SOAK") == "1"
F03 = "tests/fixtures/fwup/F03_ab_upgrade_uboot_redundant"
REPORT = []
_F03_PUB, _F03_PRIV = generate_keys(b"\x03" * 32)


def count_writes(base, fw, task, pub):
    dev = PowerCutDevice(RamDevice(base))
    apply(dev, fw, task, pub)
    return dev.writes, bytes(dev.dev.data)


def cut_run(base, fw, task, pub, k, tear):
    ram = RamDevice(base)
    dev = PowerCutDevice(ram, cut_at=k, tear=tear)
    with pytest.raises(PowerCut):
        apply(dev, fw, task, pub)
    return ram.data


def check_env_parses(image):
    # the applier itself (next update) must read it too, not only the bootloader
    n = ENV_BLOCKS * BLOCK
    uboot_env.choose(image[ENV_A * BLOCK:ENV_A * BLOCK + n], image[ENV_B * BLOCK:ENV_B * BLOCK + n],
                     ENV_A, ENV_B)


def sweep(label, base, fw, task, pub, old, new, points, rnd, retry_every=7, **kw):
    """Cut at each of *points* (whole and torn); returns {outcome: count}."""
    outcomes = {}
    for i, k in enumerate(points):
        for tear in (None, rnd.randrange(0, BLOCK)):
            image = cut_run(base, fw, task, pub, k, tear)
            try:
                boot_env(image)
                check_env_parses(image)
                outcome = reboot(image, old, new, **kw)
            except Bricked as e:
                raise AssertionError("%s: cut after write %d (tear=%r) bricks the device: %s"
                                     % (label, k, tear, e))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if i % retry_every == 0:
                # the device that came back must take the same update again
                # (into the other slot if the cut already left it on the new one)
                ram = RamDevice(image)
                apply(ram, fw, task, pub)
                slot = boot_env(ram.data)["active"]
                assert reboot(ram.data, ("-", None, b""), (slot,) + new[1:], **kw) == "new"
    REPORT.append((label, len(points) * 2, outcomes))
    return outcomes


def choose_points(total, wanted, rnd):
    if wanted >= total:
        return list(range(1, total + 1))
    # always the first/last writes (env updates sit at the end), the rest sampled
    edge = list(range(1, 6)) + list(range(total - 40, total + 1))
    rest = rnd.sample(range(6, total - 40), max(0, wanted - len(edge)))
    return sorted(set(edge + rest))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return Releases(str(tmp_path_factory.mktemp("small")), 20000)


def _states(rel):
    fresh = bytes(DEVICE_BLOCKS * BLOCK)
    dev = RamDevice(fresh)
    apply(dev, rel.fw["1.0.0"], "complete", rel.pub)
    on_a = bytes(dev.data)
    apply(dev, rel.fw["2.0.0"], "upgrade", rel.pub)
    on_b = bytes(dev.data)
    return on_a, on_b


def _run_both(rel, wanted, seed):
    rnd = random.Random(seed)
    on_a, on_b = _states(rel)
    r = rel.rootfs
    results = []
    for label, base, fw, old, new in (
            ("a->b", on_a, rel.fw["2.0.0"], ("a", "1.0.0", r["1.0.0"]), ("b", "2.0.0", r["2.0.0"])),
            ("b->a", on_b, rel.fw["3.0.0"], ("b", "2.0.0", r["2.0.0"]), ("a", "3.0.0", r["3.0.0"]))):
        total, done = count_writes(base, fw, "upgrade", rel.pub)
        assert reboot(done, old, new) == "new"
        # an intact old slot before the last write; the new one once every write landed
        outcomes = sweep("%s %dB (%d writes)" % (label, len(new[2]), total), base, fw, "upgrade",
                         rel.pub, old, new, choose_points(total, wanted, rnd), rnd)
        assert outcomes.get("old") and outcomes.get("new"), outcomes
        results.append(outcomes)
    return results


def test_power_cut_sample_small_image(small):
    # about 70 writes per upgrade: 60 cut points each way, whole and torn
    for outcomes in _run_both(small, 60, 1):
        assert set(outcomes) <= {"old", "new"}, outcomes


@pytest.mark.slow
@pytest.mark.skipif(not SOAK, reason="SOAK=1 only")
def test_power_cut_every_write_multi_segment(tmp_path):
    rel = Releases(str(tmp_path), 300000)  # crosses 128 KiB cache segments
    results = _run_both(rel, 10 ** 6, 2)
    assert sum(sum(o.values()) for o in results) >= 1000
    for outcomes in results:
        assert set(outcomes) <= {"old", "new"}, outcomes


def _f03_release(tmp, tag):
    d = os.path.join(tmp, tag)
    os.makedirs(os.path.join(d, "inputs"))
    shutil.copy(os.path.join(F03, "fwup.conf"), d)
    data = rootfs(tag, 60000)
    with open(os.path.join(d, "inputs", "rootfs.img"), "wb") as f:
        f.write(data)
    out = os.path.join(d, "out.fw")
    info = create_archive(os.path.join(d, "fwup.conf"), out, private_key=_F03_PRIV,
                          env=dict(os.environ, SOURCE_DATE_EPOCH="1700000000"))
    with open(out, "rb") as f:
        return f.read(), data, info["uuid"]


@pytest.mark.slow  # every cut point under SOAK=1, 60 in CI
def test_power_cut_f03_fixture_conf(tmp_path):
    """F03's own fwup.conf sets ``active`` before ``b.uuid``: never a brick, but a cut between
    the two boots slot b with a stale ``b.uuid`` (the outcome table counts it)."""
    fw1, r1, u1 = _f03_release(str(tmp_path), "f03-v1")
    fw2, r2, u2 = _f03_release(str(tmp_path), "f03-v2")
    dev = RamDevice(bytes(512 * BLOCK))
    apply(dev, fw1, "complete", _F03_PUB)
    base = bytes(dev.data)
    slots = {"a": 64, "b": 320}
    total, done = count_writes(base, fw2, "upgrade", _F03_PUB)
    old, new = ("a", u1, r1), ("b", u2, r2)
    assert reboot(done, old, new, slots, "%s.uuid") == "new"
    rnd = random.Random(3)
    points = choose_points(total, 60 if not SOAK else 10 ** 6, rnd)
    outcomes = sweep("F03 conf a->b (%d writes)" % total, base, fw2, "upgrade", _F03_PUB, old,
                     new, points, rnd, slots=slots, meta_key="%s.uuid")
    assert outcomes.get("old") and outcomes.get("new, stale metadata"), outcomes


def teardown_module(module):
    lines = ["", "| run | cuts | old slot | new slot | new slot, stale metadata | bricked |",
             "|---|---|---|---|---|---|"]
    for label, n, o in REPORT:
        lines.append("| %s | %d | %d | %d | %d | 0 |" % (
            label, n, o.get("old", 0), o.get("new", 0), o.get("new, stale metadata", 0)))
    print("\n".join(lines))
