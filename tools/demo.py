"""`make run`: a whole firmware update on this machine, in under a minute.

1. makes a signing key pair and two signed firmware versions (1.0.0 and 2.0.0) with our own
   fwup tools, from a small A/B ``fwup.conf`` with a redundant U-Boot environment;
2. provisions a blank flash image with the ``complete`` task of 1.0.0 (our fwup CLI);
3. starts ``nhl hub`` (the local NervesHub simulator) and an ``nhl device`` on that image;
4. deploys 2.0.0 and draws the download and apply progress as it happens;
5. the device reboots into the other slot and rejoins reporting 2.0.0; a summary is printed.

Everything lives in ``demo-run/`` (``--workdir``); nothing leaves 127.0.0.1. Exit status 0
when the device came back on 2.0.0. The firmware helpers (``write_fwup_conf``,
``make_release``, ``provision``) are also used by the end-to-end tests.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHONPATH = os.pathsep.join(os.path.join(ROOT, p) for p in ("lib", "port_cpython", "tools"))

# Flash layout (512-byte blocks): U-Boot env at 16 (+ redundant copy at 32), slot a at 64,
# slot b at 64 + SLOT_BLOCKS.
ENV_OFFSET, ENV_COUNT, ENV_REDUND = 16, 16, 32
SLOT_BLOCKS = 8192  # 4 MiB per slot
ROOTFS_SIZE = 3 * 1024 * 1024
FLASH_SIZE = (64 + 2 * SLOT_BLOCKS) * 512
PAUSE_S = 1.5

FWUP_CONF = r'''# nerves_hub_link demo firmware: A/B slots selected by a redundant U-Boot environment
meta-product = "nhl-demo"
meta-description = "nerves_hub_link demo firmware"
meta-version = "${VERSION}"
meta-platform = "host"
meta-architecture = "generic"
meta-author = "nerves_hub_link"

uboot-environment uboot-env {
    block-offset = %(env)d
    block-count = %(count)d
    block-offset-redund = %(redund)d
}

file-resource rootfs.img {
    host-path = "${ROOTFS}"
}

task complete {
    on-init {
        uboot_clearenv(uboot-env)
        uboot_setenv(uboot-env, "nerves_fw_active", "a")
        uboot_setenv(uboot-env, "nerves_fw_validated", "1")
        uboot_setenv(uboot-env, "a.nerves_fw_validated", "1")
%(meta_a)s    }
    on-resource rootfs.img { raw_write(%(a)d) }
}
%(upgrades)s'''

UPGRADE = r'''
task upgrade.%(slot)s {
    require-uboot-variable(uboot-env, "nerves_fw_active", "%(other)s")
    on-init {
        uboot_unsetenv(uboot-env, "%(slot)s.nerves_fw_uuid")
        uboot_unsetenv(uboot-env, "%(slot)s.nerves_fw_version")
    }
    on-resource rootfs.img { raw_write(%(offset)d) }
    on-finish {
%(meta)s        uboot_setenv(uboot-env, "nerves_fw_active", "%(slot)s")
    }
}
'''


# The firmware metadata a task records for the slot it writes.
SLOT_META = (("uuid", r"\${FWUP_META_UUID}"), ("version", "${VERSION}"), ("product", "nhl-demo"),
             ("platform", "host"), ("architecture", "generic"), ("author", "nerves_hub_link"))


def _set_slot_meta(slot):
    return "".join('        uboot_setenv(uboot-env, "%s.nerves_fw_%s", "%s")\n' % (slot, k, v)
                   for k, v in SLOT_META)


def write_fwup_conf(path):
    upgrades = "".join(UPGRADE % {"slot": s, "other": o, "offset": off, "meta": _set_slot_meta(s)}
                       for s, o, off in (("a", "b", 64), ("b", "a", 64 + SLOT_BLOCKS)))
    text = FWUP_CONF % {"env": ENV_OFFSET, "count": ENV_COUNT, "redund": ENV_REDUND,
                        "a": 64, "meta_a": _set_slot_meta("a"), "upgrades": upgrades}
    with open(path, "w") as f:
        f.write(text)
    return path


def rootfs_bytes(version, size=ROOTFS_SIZE):
    """Deterministic, mostly incompressible bytes that differ per version."""
    import hashlib

    out = bytearray()
    seed = ("rootfs-" + version).encode()
    i = 0
    while len(out) < size:
        out.extend(hashlib.sha256(seed + i.to_bytes(4, "big")).digest())
        i += 1
    return bytes(out[:size])


def make_keys(workdir):
    """fwup-style key files ``demo-key.pub``/``.priv``; returns (pub_path, priv_path)."""
    import base64

    from nerves_hub_link.fwup.create import generate_keys

    pub, priv = generate_keys()
    pub_path = os.path.join(workdir, "demo-key.pub")
    priv_path = os.path.join(workdir, "demo-key.priv")
    with open(pub_path, "w") as f:
        f.write(base64.b64encode(pub).decode())
    with open(priv_path, "w") as f:
        f.write(base64.b64encode(priv).decode())
    return pub_path, priv_path


def make_release(workdir, version, priv_path, conf=None, rootfs=None, name=None):
    """Build ``<workdir>/<name or demo-VERSION.fw>`` signed with *priv_path*; returns its path."""
    from nerves_hub_link.fwup.create import create_archive

    conf = conf or write_fwup_conf(os.path.join(workdir, "fwup.conf"))
    rootfs_path = os.path.join(workdir, "rootfs-%s.img" % version)
    with open(rootfs_path, "wb") as f:
        f.write(rootfs if rootfs is not None else rootfs_bytes(version))
    out = os.path.join(workdir, name or "demo-%s.fw" % version)
    env = {"VERSION": version, "ROOTFS": rootfs_path, "SOURCE_DATE_EPOCH": "1700000000"}
    create_archive(conf, out, private_key=priv_path, env=env)
    return out


def fwup_cli(*args):
    """Run our fwup-compatible CLI (``python -m nerves_hub_link.fwup``); returns the result."""
    env = dict(os.environ, PYTHONPATH=PYTHONPATH)
    return subprocess.run([sys.executable, "-m", "nerves_hub_link.fwup"] + list(args),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def provision(flash_path, fw_path, pub_path, task="complete"):
    """Write *fw_path*'s *task* to a fresh (or existing) flash image with our CLI."""
    if task == "complete":
        with open(flash_path, "wb") as f:
            f.truncate(FLASH_SIZE)
    r = fwup_cli("-a", "-d", flash_path, "-i", fw_path, "-t", task, "-p", pub_path, "-q")
    if r.returncode != 0:
        raise RuntimeError("fwup apply %s of %s failed: %s%s"
                           % (task, fw_path, r.stdout, r.stderr))
    return flash_path


# ---- the demo ----------------------------------------------------------------------------

class Admin:
    """The simulator's admin API (loopback, JSON)."""

    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path, body):
        req = urllib.request.Request(self.base + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())


def bar(label, pct, width=36):
    pct = max(0, min(100, int(pct)))
    fill = pct * width // 100
    return "%-11s [%s%s] %3d%%" % (label, "#" * fill, "." * (width - fill), pct)


def _wait(what, fn, timeout, procs=()):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError("%s exited (status %s) while waiting for %s"
                                   % (p.args[3] if len(p.args) > 3 else p.args, p.returncode,
                                      what))
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(0.1)  # polling a live demo's admin API, not a test


def _start(args, log_path):
    env = dict(os.environ, PYTHONPATH=PYTHONPATH, PYTHONUNBUFFERED="1")
    f = open(log_path, "w")
    return subprocess.Popen([sys.executable, "-m", "nhl"] + args, cwd=ROOT, env=env,
                            stdout=f, stderr=subprocess.STDOUT)


def _free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(workdir, out=sys.stdout, timeout=50):
    t0 = time.monotonic()
    say = out.write
    if os.path.exists(workdir):
        shutil.rmtree(workdir)
    os.makedirs(workdir)
    sys.path[:0] = [p for p in PYTHONPATH.split(os.pathsep) if p not in sys.path]

    say("==> 1/5 signing key and firmware 1.0.0 + 2.0.0 (our fwup create)\n")
    pub, priv = make_keys(workdir)
    v1 = make_release(workdir, "1.0.0", priv)
    v2 = make_release(workdir, "2.0.0", priv)
    say("    %s  %s (%d bytes each)\n" % (os.path.basename(v1), os.path.basename(v2),
                                          os.path.getsize(v2)))

    say("==> 2/5 blank %d KiB flash image, provisioned with the 'complete' task of 1.0.0\n"
        % (FLASH_SIZE // 1024))
    hub_dir = os.path.join(workdir, "hub")
    dev_dir = os.path.join(workdir, "device")
    os.makedirs(dev_dir)
    flash = provision(os.path.join(dev_dir, "flash.img"), v1, pub)

    say("==> 3/5 nhl hub (127.0.0.1) and nhl device\n")
    from nhl.hub import device_config, init_dir

    init_dir(hub_dir)
    tls_port, admin_port = _free_port(), _free_port()
    hub = _start(["hub", "--dir", hub_dir, "--port", str(tls_port),
                  "--admin-port", str(admin_port)], os.path.join(workdir, "hub.log"))
    procs = [hub]
    device = None
    try:
        admin = Admin(admin_port)
        _wait("the hub", lambda: _try(lambda: admin.get("/admin/status")), 15, procs)
        cfg = device_config(hub_dir, "device-1", dev_dir, "certificate", tls_port)
        for k in ("ca_certs", "cert", "key"):
            cfg[k] = os.path.join(hub_dir, cfg[k])
        with open(pub) as f:
            key = f.read().strip()
        cfg.update({"block_device": flash, "fwup_public_keys": [key],
                    "uboot_env": [ENV_OFFSET, ENV_COUNT, ENV_REDUND],
                    "socket": {"reconnect_after_ms": [200, 500, 1000]}})
        cfg_path = os.path.join(workdir, "device.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        device = _start(["device", "--config", cfg_path, "--on-reboot", "exec"],
                        os.path.join(workdir, "device.log"))
        procs.append(device)
        first = _wait("device-1 to join", lambda: _joined(admin), 20, procs)
        slot1 = active_slot(flash)
        say("    device-1 joined running %s (slot %s)\n" % (_params(first).get("nerves_fw_version"),
                                                        slot1))

        say("==> 4/5 deploy 2.0.0 (the hub pauses the transfer for %.1f s halfway, like a slow"
            " link, so the bars have something to show)\n" % PAUSE_S)
        name = os.path.basename(v2)
        size = os.path.getsize(v2)
        hosted = admin.post("/admin/firmware", {"file": v2, "name": name})
        admin.post("/admin/firmware/%s/faults" % name, {"faults": [
            {"stall": True, "stall_after": size // 2, "stall_s": PAUSE_S}]})
        uuid2 = hosted["meta"]["uuid"]
        admin.post("/admin/devices/device-1/push", {"event": "update", "payload": {
            "update_available": True, "firmware_url": hosted["url"],
            "firmware_meta": hosted["meta"], "deployment_id": None, "size": size}})
        statuses, last = _show_progress(admin, name, size, out, procs, timeout)
        say("==> 5/5 reboot into the other slot\n")
        back = _wait("device-1 to rejoin on 2.0.0",
                     lambda: _joined(admin, uuid2), 30, procs)
        sent = sum(r.get("sent", 0) for r in admin.get("/admin/firmware/%s/requests" % name))
        say("\nSummary\n")
        say("  firmware     1.0.0 (slot %s) -> %s (slot %s)\n"
            % (slot1, _params(back).get("nerves_fw_version"), active_slot(flash)))
        say("  statuses     %s\n" % " -> ".join(statuses))
        say("  downloaded   %d bytes for a %d-byte archive\n" % (sent, size))
        say("  validated    %s\n" % _validated(admin, flash))
        say("  time         %.1f s\n" % (time.monotonic() - t0))
        ok = _params(back).get("nerves_fw_version") == "2.0.0" and "completed" in statuses
        say("  result       %s\n" % ("OK" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        for p in ([device] if device else []) + [hub]:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)


def _try(fn):
    try:
        return fn()
    except OSError:
        return None


def _params(dev):
    return (dev.get("join_params") or {}).get("device") or {}


def read_env(flash):
    """The U-Boot environment of a flash image, as a dict (fwup's redundant-copy rules)."""
    from nerves_hub_link.fwup import uboot_env

    size = ENV_COUNT * 512
    with open(flash, "rb") as f:
        f.seek(ENV_OFFSET * 512)
        primary = f.read(size)
        f.seek(ENV_REDUND * 512)
        redund = f.read(size)
    env = uboot_env.choose(primary, redund, ENV_OFFSET, ENV_REDUND)[0]
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes)
                                                           else v) for k, v in env.items()}


def active_slot(flash):
    return read_env(flash).get("nerves_fw_active", "?")


def _validated(admin, flash):
    env = read_env(flash)
    slot = env.get("nerves_fw_active", "a")
    return "yes" if env.get(slot + ".nerves_fw_validated") == "1" else "not yet"


def _joined(admin, uuid=None):
    d = _try(lambda: admin.get("/admin/devices/device-1"))
    if not d or not d.get("connected") or "device" not in (d.get("joined") or []):
        return None
    if uuid is not None and _params(d).get("nerves_fw_uuid") != uuid:
        return None
    return d


def _show_progress(admin, name, size, out, procs, timeout):
    """Draw download (bytes the hub sent) and apply (fwup_progress) bars until completed."""
    deadline = time.monotonic() + timeout
    seen = 0
    statuses = []
    apply_pct = 0
    tty = getattr(out, "isatty", lambda: False)()
    drawn = None
    while time.monotonic() < deadline:
        d = admin.get("/admin/devices/device-1?since=%d" % seen)
        msgs = d.get("messages", [])
        seen += len(msgs)
        for m in msgs:
            if m.get("kind") != "frame" or m.get("topic") != "device":
                continue
            p = m.get("payload") or {}
            if m.get("event") == "fwup_progress":
                apply_pct = max(apply_pct, int(p.get("value", 0)))
            elif m.get("event") == "status_update":
                statuses.append(p.get("status"))
        reqs = _try(lambda: admin.get("/admin/firmware/%s/requests" % name)) or []
        got = sum(r.get("sent", 0) for r in reqs)
        dl = 100 * min(got, size) // size if size else 0
        line = bar("download", dl) + "   " + bar("apply", apply_pct)
        if line != drawn:
            out.write(("\r" + line) if tty else (line + "\n"))
            out.flush()
            drawn = line
        if "completed" in statuses or "failed" in statuses:
            if tty:
                out.write("\n")
            if "failed" in statuses:
                raise RuntimeError("the update failed: see device.log")
            return statuses, apply_pct
        for p in procs:
            if p.poll() is not None and p is not procs[-1]:
                raise RuntimeError("the hub exited (status %s)" % p.returncode)
        time.sleep(0.05)  # redraw rate of a live progress bar
    raise RuntimeError("no 'completed' status within %ds" % timeout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default=os.path.join(ROOT, "demo-run"))
    ap.add_argument("--timeout", type=int, default=50)
    args = ap.parse_args(argv)
    try:
        return run(args.workdir, timeout=args.timeout)
    except (RuntimeError, OSError) as e:
        sys.stdout.write("demo failed: %s\n(logs in %s)\n" % (e, args.workdir))
        return 1


if __name__ == "__main__":
    sys.exit(main())
