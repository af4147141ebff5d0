"""The applier's block actions: ``raw_memset``, ``trim``, ``mbr_write`` and the U-Boot
environment ones (``uboot_setenv/unsetenv/clearenv/recover``), loaded only for tasks that
use them. Largest buffers: 2 blocks of memset pattern (1 KiB); U-Boot environments are read
and written a block at a time.
"""

from nerves_hub_link.errors import ArchiveError, FwupError
from nerves_hub_link.fwup import uboot_env
from nerves_hub_link.fwup.num import to_int

BLOCK = 512


def run(app, name, args):
    """Run one action of the chosen task on ``app.cache`` (progress reported)."""
    p = app.progress
    cache = app.cache
    if name == "raw_memset":
        off = app.block_offset(args[0], name)
        count = to_int(args[1])
        value = to_int(args[2])
        if count < 1 or not 0 <= value <= 255:
            raise ArchiveError("raw_memset: bad count %r or value %r" % (args[1], args[2]))
        group = 2 if count >= 2 else count  # 1 KiB of pattern: fits beside the deflate window
        buf = bytes([value]) * (group * BLOCK)
        done = 0
        while done < count:
            k = min(group, count - done)
            cache.write((off + done) * BLOCK, buf if k == group else buf[:k * BLOCK], True)
            for _ in range(k):
                p.report(BLOCK)
            done += k
    elif name == "trim":
        off = app.block_offset(args[0], name)
        count = to_int(args[1])
        if count < 0:
            raise ArchiveError("trim: bad block count %r" % args[1])
        cache.trim(off * BLOCK, count * BLOCK)
        p.report(count // 256)
    elif name == "mbr_write":
        from nerves_hub_link.fwup import mbr

        lim = cache.dev.limit
        sector = mbr.encode(app.meta.mbrs[args[0]], 0 if lim is None else lim // BLOCK)
        cache.write(0, sector, False)
        p.report(BLOCK)
    elif name.startswith("uboot_"):
        _uboot_action(app, name, args)
        off, cnt, red = app.meta.uboot[args[0]]
        p.report(cnt * BLOCK * (2 if red is not None else 1))
    else:
        raise ArchiveError("%s is only allowed in on-resource" % name)


def _layout(app, name):
    """meta.conf's (block offset, block count, redundant offset) of a U-Boot environment; the
    count is checked before it sizes a buffer (fwup creates only 1..65534)."""
    off, cnt, red = app.meta.uboot[name]
    if not 1 <= cnt <= 65534:
        raise ArchiveError("uboot-environment '%s': block-count %d is out of range (1..65534)"
                           % (name, cnt))
    return off, cnt, red


def uboot_read(app, name):
    """-> (env_raw, flags, write_primary, write_redund), read a block at a time."""
    off, cnt, red = _layout(app, name)
    size = cnt * BLOCK
    cache = app.cache
    if red is None:
        return uboot_env.decode_from(_reader(cache, off), size, False, off, True), 0, True, False
    return uboot_env.choose_read((_reader(cache, off), size), (_reader(cache, red), size),
                                 off, red)


def _reader(cache, blk):
    return lambda o, n: cache.read(blk * BLOCK + o, n)


def _uboot_write(app, name, env, flags, primary, redund):
    off, cnt, red = _layout(app, name)
    size = cnt * BLOCK
    cache = app.cache
    for blk, wanted in ((off, primary), (red, redund)):
        if wanted and blk is not None:
            uboot_env.encode_to(lambda o, d, b=blk: cache.write(b * BLOCK + o, d, False), env,
                                size, red is not None, flags)


def _uboot_action(app, name, args):
    env_name = args[0]
    if name == "uboot_clearenv":
        _uboot_write(app, env_name, {}, 1, True, True)
        return
    if name == "uboot_recover":
        try:
            uboot_read(app, env_name)
        except FwupError:
            _uboot_write(app, env_name, {}, 1, True, True)
        return
    env, flags, wp, wr = uboot_read(app, env_name)
    key = args[1].encode("utf-8")
    if name == "uboot_setenv":
        env[key] = args[2].encode("utf-8")
    else:
        env.pop(key, None)
    _uboot_write(app, env_name, env, (flags + 1) & 0xFF, wp, wr)
