"""Task set-up for the applier, loaded only while meta.conf is turned into a plan.

``setup(app)`` opens the segment cache, chooses the task (prefix match, first whose
requirements pass), checks every action of it up front (unsupported ones fail before
anything is written) and sets the progress total. No buffers beyond one MBR sector or
U-Boot environment read for a requirement.
"""

from nerves_hub_link.errors import ArchiveError, FwupError, NervesHubError
from nerves_hub_link.fwup.num import to_int

BLOCK = 512

# action -> (min args, max args)
ACTIONS = {
    "raw_write": (1, 3),
    "raw_memset": (3, 3),
    "trim": (2, 2),
    "mbr_write": (1, 1),
    "uboot_setenv": (3, 3),
    "uboot_unsetenv": (2, 2),
    "uboot_clearenv": (1, 1),
    "uboot_recover": (1, 1),
    "info": (1, 1),
    "error": (1, 1),
    "path_write": (1, 1),
}
UNSUPPORTED = ("gpt_write", "execute", "pipe_write", "ubi_volume_write", "reboot_param",
               "disk_crypto_write")


def setup(app):
    from nerves_hub_link.fwup.cache import SegmentCache

    mb = to_int(app.meta.options.get("block-cache-size-mb", "8") or "8")
    app.cache = SegmentCache(app.dev, app.journal, max(1, mb) * 8)
    app.task = select_task(app)
    check_task(app, app.task)
    app.progress.set_total(units(app, app.task))


def select_task(app):
    for t in app.meta.tasks:
        if not t.name.startswith(app.task_prefix):
            continue
        ok = True
        for name, args in t.reqs:
            if not requirement(app, name, args):
                ok = False
                break
        if ok:
            return t
    raise FwupError("Couldn't find applicable task '%s'. If task is available, the task's "
                    "requirements may not be met." % app.task_prefix)


def requirement(app, name, args):
    if name in ("require-fat-file-exists", "require-fat-file-match"):
        raise FwupError("%s: FAT is not supported" % name)
    try:
        if name == "require-partition-offset":
            if len(args) != 2:
                return False
            from nerves_hub_link.fwup import mbr

            sector = app.cache.read(0, BLOCK)
            off = mbr.partition_offset(sector, to_int(args[0]))
            return off is not None and off == to_int(args[1])
        if name == "require-uboot-variable":
            if len(args) != 3:
                return False
            from nerves_hub_link.fwup import actions

            env = actions.uboot_read(app, args[0])[0]
            v = env.get(args[1].encode("utf-8"))
            return v is not None and v == args[2].encode("utf-8")
        if name in ("require-path-on-device", "require-path-at-offset"):
            if app.path_checker is None or len(args) != 2:
                return False
            return bool(app.path_checker(name, args[0], args[1]))
    except NervesHubError:
        return False
    return False


def check_task(app, t):
    lists = [t.events["on-init"], t.events["on-finish"], t.events["on-error"]]
    lists.extend(a for _n, a in t.on_resource)
    for actions in lists:
        for name, args in actions:
            if name.startswith("fat_"):
                raise FwupError("%s: FAT is not supported (task '%s')" % (name, t.name))
            if name in UNSUPPORTED:
                raise FwupError("%s is not supported by this fwup (task '%s')"
                                % (name, t.name))
            spec = ACTIONS.get(name)
            if spec is None:
                raise ArchiveError("Unknown function '%s' in task '%s'" % (name, t.name))
            if not spec[0] <= len(args) <= spec[1]:
                raise ArchiveError("%s: wrong number of arguments (%d) in task '%s'"
                                % (name, len(args), t.name))
            if name == "path_write" and not (app.unsafe or app.fs is not None):
                raise FwupError("path_write requires --unsafe")
            if name.startswith("uboot_") and args[0] not in app.meta.uboot:
                raise ArchiveError("%s: unknown uboot-environment '%s'" % (name, args[0]))
            if name == "mbr_write" and args[0] not in app.meta.mbrs:
                raise ArchiveError("mbr_write: unknown mbr '%s'" % args[0])


def units(app, t):
    total = 0
    for name, args in t.events["on-init"] + t.events["on-finish"]:
        total += action_units(app, name, args, None)
    for rname, actions in t.on_resource:
        res = app.meta.resources.get(rname)
        if res is None:
            continue
        for name, args in actions:
            total += action_units(app, name, args, res)
    return total


def action_units(app, name, args, res):
    if name in ("raw_write", "path_write"):
        return res.data_size if res is not None else 0
    if name == "raw_memset":
        return max(0, to_int(args[1])) * BLOCK
    if name == "trim":
        return max(0, to_int(args[1])) // 256
    if name == "mbr_write":
        return BLOCK
    if name.startswith("uboot_"):
        off, cnt, red = app.meta.uboot[args[0]]
        return cnt * BLOCK * (2 if red is not None else 1)
    return 0
