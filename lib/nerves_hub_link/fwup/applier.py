"""The fwup apply engine, push style: ``Applier(dev, task, ...)``, ``feed(chunk)``, ``finish()``.

Follows fwup 1.16.0 (spec sections 5-8): the signature entry and ``meta.conf`` must come
first; ``meta.conf`` is checked with Ed25519 against ``public_keys`` before anything else
happens; then the task is chosen (prefix match, first whose requirements pass), every action
of it is checked up front (unsupported ones fail before anything is written), ``on-init``
runs, resources are processed in archive order (each data-consuming action verifies the
BLAKE2b-256 - or SHA-256 when meta.conf carries one - after the last byte), then
``on-finish``. On an error the writes fwup would not have flushed are undone, ``on-error``
runs, and the first error is raised. Output goes through ``cache.SegmentCache`` so images
match fwup byte for byte.

``events(type, code, text)`` receives ``PR`` (progress) and ``WN`` (``info()``) events; the
caller reports errors (``FwupError``, ``str(e)`` is fwup's text) and success.

Largest buffers: meta.conf (< 50 kB) and its tree, the zip reader's (see ``zipstream``), one
512-byte pad block, one U-Boot environment while it is being changed.
"""

from nerves_hub_link.errors import (
    ArchiveError,
    BlockDeviceError,
    FwupError,
    NervesHubError,
    SignatureError,
)
from nerves_hub_link.fwup import mbr, metaconf, uboot_env
from nerves_hub_link.fwup.cache import BLOCK, SegmentCache
from nerves_hub_link.fwup.confuse import to_int
from nerves_hub_link.fwup.events import Progress
from nerves_hub_link.fwup.zipstream import MAX_CHUNK, ZipStream

SIG_NAME = "meta.conf.ed25519"
META_NAME = "meta.conf"
MAX_SIG = 4096

# action -> (min args, max args, consumes data)
ACTIONS = {
    "raw_write": (1, 3, True),
    "raw_memset": (3, 3, False),
    "trim": (2, 2, False),
    "mbr_write": (1, 1, False),
    "uboot_setenv": (3, 3, False),
    "uboot_unsetenv": (2, 2, False),
    "uboot_clearenv": (1, 1, False),
    "uboot_recover": (1, 1, False),
    "info": (1, 1, False),
    "error": (1, 1, False),
    "path_write": (1, 1, True),
}
UNSUPPORTED = ("gpt_write", "execute", "pipe_write", "ubi_volume_write", "reboot_param",
               "disk_crypto_write")
REQUIREMENTS = ("require-partition-offset", "require-uboot-variable", "require-path-on-device",
                "require-path-at-offset", "require-fat-file-exists", "require-fat-file-match",
                "require-execute")

# phases
_START, _AFTER_SIG, _META, _RESOURCES, _DONE, _FAILED = range(6)


def _is_hex64(s):
    if not isinstance(s, str) or len(s) != 64:
        return False
    for c in s:
        if not ("0" <= c <= "9" or "a" <= c <= "f" or "A" <= c <= "F"):
            return False
    return True


def _hex(b):
    return "".join("%02x" % x for x in b)


def resource_name(entry_name):
    """Archive entry name -> fwup resource name (``data/X`` -> ``X``, else ``/Y``)."""
    if entry_name.startswith("data/"):
        return entry_name[5:]
    return "/" + entry_name


class _Consumer:
    """A data-consuming action (raw_write/path_write) for one resource."""

    def __init__(self, app, action, args, res):
        self.app = app
        self.action = action
        self.res = res
        self.count = 0
        self.pad_blk = -1
        self.pad = None
        self.run = 0  # index of the current data run in res.runs
        self.run_left = res.runs[0]
        self.dest = 0  # byte offset inside the resource's extent
        if res.sha256 is not None:
            if not _is_hex64(res.sha256):
                raise FwupError("invalid sha256 hash for '%s'" % res.name)
            from nerves_hub_link.crypto import hashes

            self.h = hashes.sha256()
            self.kind = "sha256"
        else:
            if not _is_hex64(res.blake2b):
                raise FwupError("invalid blake2b hash for '%s'" % res.name)
            from nerves_hub_link.crypto import hashes

            self.h = hashes.blake2b_256()
            self.kind = "blake2b"
        if action == "raw_write":
            if len(args) > 1:
                raise FwupError("raw_write: encrypted writes (%s) are not supported" % args[1])
            self.base = app.block_offset(args[0], "raw_write") * BLOCK
            self.file = None
        else:
            self.base = 0
            self.file = app.open_path(args[0])

    def data(self, chunk):
        self.h.update(chunk)
        self.count += len(chunk)
        mv = memoryview(chunk)
        pos = 0
        n = len(mv)
        res = self.res
        while pos < n:
            while self.run_left == 0:
                if self.run + 2 >= len(res.runs):
                    raise FwupError("%s wrote more than %d bytes for '%s'"
                                    % (self.action, res.data_size, res.name))
                self.dest += res.runs[self.run + 1]
                self.run += 2
                self.run_left = res.runs[self.run]
            k = min(n - pos, self.run_left)
            self._out(self.dest, mv[pos:pos + k])
            self.dest += k
            self.run_left -= k
            pos += k
            self.app.progress.report(k)

    def _out(self, off, data):
        if self.file is not None:
            self.file.seek(off)
            self.file.write(data)
            return
        self.app.pad_write(self, self.base + off, data)

    def finish(self):
        res = self.res
        runs = res.runs
        if len(runs) % 2 == 0 and runs[-1]:
            # ends with a hole: write min(512, hole) zeros at the very end of the extent
            z = min(BLOCK, runs[-1])
            if self.file is not None:
                self.file.seek(res.total_size - z)
                self.file.write(bytes(z))
            else:
                self.app.pad_write(self, self.base + res.total_size - z, bytes(z))
        if self.file is None:
            self.app.pad_flush(self)
        else:
            self.file.close()
            self.file = None

    def verify(self):
        res = self.res
        if self.count != res.data_size:
            if self.count == 0:
                raise FwupError(
                    "%s didn't write anything and was likely called twice in an on-resource "
                    "for '%s'. Try a \"cp\" function." % (self.action, res.name))
            raise FwupError("%s wrote %d bytes for '%s', but should have written %d"
                            % (self.action, self.count, res.name, res.data_size))
        got = _hex(self.h.digest())
        self.app.hashes_used[self.kind] = self.app.hashes_used.get(self.kind, 0) + 1
        want = res.sha256 if self.kind == "sha256" else res.blake2b
        if got != want.lower():
            raise SignatureError("%s detected %s mismatch on '%s'"
                                 % (self.action, self.kind, res.name))


class _Checker(_Consumer):
    """``-V``: hash and count a resource without writing it."""

    def __init__(self, app, res):
        self.app = app
        self.res = res
        self.count = 0
        if res.sha256 is not None and _is_hex64(res.sha256):
            from nerves_hub_link.crypto import hashes

            self.h = hashes.sha256()
            self.kind = "sha256"
        else:
            if not _is_hex64(res.blake2b):
                raise FwupError("invalid blake2b hash for '%s'" % res.name)
            from nerves_hub_link.crypto import hashes

            self.h = hashes.blake2b_256()
            self.kind = "blake2b"

    def data(self, chunk):
        self.h.update(chunk)
        self.count += len(chunk)

    def finish(self):
        pass

    def verify(self):
        res = self.res
        if self.count != res.data_size:
            raise FwupError("Resource %s has size %d, but meta.conf says %d"
                            % (res.name, self.count, res.data_size))
        got = _hex(self.h.digest())
        want = res.sha256 if self.kind == "sha256" else res.blake2b
        if got != want.lower():
            raise SignatureError("Detected %s digest mismatch for %s" % (self.kind, res.name))


class Applier:
    """Apply one task of a ``.fw`` archive fed as bytes; see the module docstring.

    ``dev``: block device (``readblocks/writeblocks/ioctl``) or ``FileBlockDevice``.
    ``public_keys``: list of 32-byte Ed25519 keys (empty = signature not checked).
    ``env``: dict or callable for ``${VAR}`` in meta.conf. ``fs``: object with ``open(path,
    mode)`` for ``path_write`` (default: built-in ``open``, only with ``unsafe=True``).
    """

    def __init__(self, dev, task, public_keys=None, env=None, events=None, fw_name="<fw>",
                 max_chunk=MAX_CHUNK, journal=None, unsafe=False, fs=None,
                 progress_low=0, progress_high=100, path_checker=None, mode="apply"):
        self.mode = mode  # "apply", "verify" (-V: check every resource) or "meta" (-m/-l)
        self.dev = dev
        self.task_prefix = task
        self.keys = [bytes(k) for k in (public_keys or [])]
        self.env = env
        self.events = events
        self.fw_name = fw_name
        self.journal = journal
        self.unsafe = unsafe
        self.fs = fs
        self.path_checker = path_checker
        self.progress = Progress(events, progress_low, progress_high)
        self.zs = ZipStream(self, max_chunk)
        self.phase = _START
        self.sig = None
        self.meta_buf = None
        self.meta = None
        self.task = None
        self.cache = None
        self.error = None
        self.hashes_used = {}
        self.seen = {}
        self.consumers = None
        self.after = None
        if mode == "apply":
            self.progress.start()

    # -- push API ------------------------------------------------------------------------

    def feed(self, chunk):
        """Feed archive bytes. Raises ``FwupError`` (fwup's text) on failure."""
        if self.phase == _FAILED:
            raise self.error
        if self.phase == _DONE:
            return
        self._guard(self.zs.feed, chunk)

    def finish(self):
        """End of the archive: completes the apply (or raises)."""
        if self.phase == _FAILED:
            raise self.error
        if self.phase != _DONE:
            self._guard(self.zs.finish)
        if self.phase != _DONE:
            self._guard(self._premature_end)

    @property
    def done(self):
        return self.phase == _DONE

    def _guard(self, fn, *args):
        try:
            fn(*args)
        except NervesHubError as e:
            if self.phase == _META and self.cur == "meta" and isinstance(e, ArchiveError):
                # fwup reports a meta.conf it could not read by its size
                e = ArchiveError("Unexpected meta.conf size: 0", hint=e.message)
            self._fail(e)
            raise e
        except OSError as e:
            err = BlockDeviceError("I/O error: %r" % (e,))
            self._fail(err)
            raise err

    def _fail(self, err):
        if self.phase == _FAILED:
            return
        self.phase = _FAILED
        self.error = err
        if self.cache is None:
            return
        try:
            self.cache.discard()
            if self.task is not None:
                for name, args in self.task.events["on-error"]:
                    try:
                        self._action(name, args)
                    except NervesHubError:
                        self.cache.discard()
            self.cache.flush()
        except (NervesHubError, OSError):
            pass
        self._close()

    def _close(self):
        if self.cache is not None:
            self.cache.close()

    def _premature_end(self):
        if self.phase in (_START, _META):
            raise ArchiveError("Expecting meta.conf to be at the beginning of %s" % self.fw_name)
        if self.phase == _AFTER_SIG:
            self._check_sig()
            raise ArchiveError("Expecting more than meta.conf.ed25519 in archive")

    # -- zip handler ---------------------------------------------------------------------

    def on_entry(self, e):
        if self.phase == _START and e.name == SIG_NAME:
            # fwup reads just 64 bytes: the entry's CRC is never checked
            self.phase = _AFTER_SIG
            self.sig = bytearray()
            e.peek = 64
            self.cur = "sig"
            return False
        if self.phase == _AFTER_SIG:
            self._check_sig()
        if self.phase in (_START, _AFTER_SIG):
            if e.name != META_NAME:
                raise ArchiveError("Expecting meta.conf to be at the beginning of %s"
                                   % self.fw_name)
            if e.usize and not (10 <= e.usize < metaconf.MAX_SIZE) and not e.flags & 8:
                raise ArchiveError("Unexpected meta.conf size: %d" % e.usize)
            self.phase = _META
            self.meta_entry = e
            self.meta_buf = bytearray()
            e.limit = metaconf.MAX_SIZE
            self.cur = "meta"
            return True
        return self._resource_entry(e)

    def on_data(self, e, chunk):
        if self.cur == "sig":
            self.sig.extend(chunk)
        elif self.cur == "meta":
            self.meta_buf.extend(chunk)
        else:
            self.consumer.data(chunk)

    def _check_sig(self):
        if len(self.sig) < 64:
            raise SignatureError("Unexpected meta.conf.ed25519 size: %d" % len(self.sig))
        self.sig = bytes(self.sig[:64])

    def on_entry_end(self, e):
        if self.cur == "meta":
            data = self.meta_buf
            self.meta_buf = None
            if not (10 <= len(data) < metaconf.MAX_SIZE):
                raise ArchiveError("Unexpected meta.conf size: %d" % len(data))
            self._start(bytes(data), e)
        else:
            self._resource_end()
        self.cur = None

    def on_end(self, err):
        if self.phase != _RESOURCES:
            return
        if self.mode == "verify":
            for name in self.meta.resource_order:
                if name not in self.seen:
                    raise FwupError("Resource %s not found in archive" % name)
            self.phase = _DONE
            return
        for name, _actions in self.task.on_resource:
            if name not in self.seen:
                raise FwupError("Resource %s not found in archive" % name)
        for name, args in self.task.events["on-finish"]:
            self._action(name, args)
        self.cache.flush()
        self._close()
        self.phase = _DONE
        self.progress.done()

    # -- meta.conf, signature, task ------------------------------------------------------

    def _start(self, data, entry):
        if self.keys:
            if self.sig is None:
                raise SignatureError("Expecting signed firmware archive.")
            from nerves_hub_link.crypto import ed25519

            ok = False
            for k in self.keys:
                if ed25519.verify(k, self.sig, data):
                    ok = True
                    break
            if not ok:
                raise SignatureError(
                    "Firmware archive's meta.conf fails digital signature verification.")
        self.meta = metaconf.load(data, self.env, entry.mtime, entry.dos_time)
        if self.mode == "meta":
            self.phase = _DONE
            return
        if self.mode == "verify":
            self.phase = _RESOURCES
            return
        mb = to_int(self.meta.root.get("block-cache-size-mb", "8") or "8")
        self.cache = SegmentCache(self.dev, self.journal, max(1, mb) * 8)
        self.task = self._select_task()
        self._check_task(self.task)
        self.progress.set_total(self._units(self.task))
        self.phase = _RESOURCES
        for name, args in self.task.events["on-init"]:
            self._action(name, args)

    def _select_task(self):
        for t in self.meta.tasks:
            if not t.name.startswith(self.task_prefix):
                continue
            ok = True
            for name, args in t.reqs:
                if not self._requirement(name, args):
                    ok = False
                    break
            if ok:
                return t
        raise FwupError("Couldn't find applicable task '%s'. If task is available, the task's "
                        "requirements may not be met." % self.task_prefix)

    def _requirement(self, name, args):
        if name in ("require-fat-file-exists", "require-fat-file-match"):
            raise FwupError("%s: FAT is not supported" % name)
        try:
            if name == "require-partition-offset":
                if len(args) != 2:
                    return False
                sector = self.cache.read(0, BLOCK)
                off = mbr.partition_offset(sector, to_int(args[0]))
                return off is not None and off == to_int(args[1])
            if name == "require-uboot-variable":
                if len(args) != 3:
                    return False
                env = self._uboot_read(args[0])[0]
                v = env.get(args[1].encode("utf-8"))
                return v is not None and v == args[2].encode("utf-8")
            if name in ("require-path-on-device", "require-path-at-offset"):
                if self.path_checker is None or len(args) != 2:
                    return False
                return bool(self.path_checker(name, args[0], args[1]))
        except NervesHubError:
            return False
        return False

    def _check_task(self, t):
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
                    raise FwupError("Unknown function '%s' in task '%s'" % (name, t.name))
                if not spec[0] <= len(args) <= spec[1]:
                    raise FwupError("%s: wrong number of arguments (%d) in task '%s'"
                                    % (name, len(args), t.name))
                if name == "path_write" and not (self.unsafe or self.fs is not None):
                    raise FwupError("path_write requires --unsafe")
                if name.startswith("uboot_") and args[0] not in self.meta.uboot:
                    raise FwupError("%s: unknown uboot-environment '%s'" % (name, args[0]))
                if name == "mbr_write" and args[0] not in self.meta.mbrs:
                    raise FwupError("mbr_write: unknown mbr '%s'" % args[0])

    def _units(self, t):
        total = 0
        for name, args in t.events["on-init"] + t.events["on-finish"]:
            total += self._action_units(name, args, None)
        for rname, actions in t.on_resource:
            res = self.meta.resources.get(rname)
            if res is None:
                continue
            for name, args in actions:
                total += self._action_units(name, args, res)
        return total

    def _action_units(self, name, args, res):
        if name in ("raw_write", "path_write"):
            return res.data_size if res is not None else 0
        if name == "raw_memset":
            return max(0, to_int(args[1])) * BLOCK
        if name == "trim":
            return max(0, to_int(args[1])) // 256
        if name == "mbr_write":
            return BLOCK
        if name.startswith("uboot_"):
            off, cnt, red = self.meta.uboot[args[0]]
            return cnt * BLOCK * (2 if red is not None else 1)
        return 0

    # -- resources -----------------------------------------------------------------------

    def _resource_entry(self, e):
        if self.phase != _RESOURCES:
            return False
        rname = resource_name(e.name)
        if not rname or rname == "/":
            return False
        if self.mode == "verify":
            return self._verify_entry(e, rname)
        actions = self.task.handler(rname)
        if actions is None:
            return False
        res = self.meta.resources.get(rname)
        if res is None:
            raise ArchiveError("Resource '%s' used, but metadata is missing. Archive is corrupt."
                               % rname)
        self.seen[rname] = True
        self.after = []
        self.consumer = None
        i = 0
        while i < len(actions):
            name, args = actions[i]
            i += 1
            if ACTIONS.get(name, (0, 0, False))[2]:
                if res.runs[0] == 0 and len(res.runs) <= 2:
                    c = _Consumer(self, name, args, res)  # checks the hash text
                    c.finish()
                    continue
                if (not res.sparse and e.usize and e.usize != 0xFFFFFFFF
                        and e.usize != res.data_size):
                    raise ArchiveError(
                        "File '%s' isn't expected size (%d vs %d) and xdelta3 patch support not "
                        "enabled on it." % (rname, e.usize, res.data_size))
                self.consumer = _Consumer(self, name, args, res)
                self.after = actions[i:]
                e.limit = res.data_size
                self.cur = "res"
                return True
            self._action(name, args)
        return False

    def _verify_entry(self, e, rname):
        res = self.meta.resources.get(rname)
        if res is None:
            raise ArchiveError("Can't find file-resource for %s" % rname)
        self.seen[rname] = True
        self.consumer = _Checker(self, res)
        self.after = []
        e.limit = res.data_size
        self.cur = "res"
        return True

    def _resource_end(self):
        c = self.consumer
        self.consumer = None
        c.finish()
        c.verify()
        after = self.after
        self.after = None
        for name, args in after:
            if ACTIONS.get(name, (0, 0, False))[2]:
                res = c.res
                raise FwupError(
                    "%s didn't write anything and was likely called twice in an on-resource "
                    "for '%s'. Try a \"cp\" function." % (name, res.name))
            self._action(name, args)

    def pad_write(self, c, off, data):
        """Write ``data`` at byte ``off``, collecting partial 512-byte blocks (zero padded)."""
        mv = memoryview(data)
        n = len(mv)
        pos = 0
        while pos < n:
            blk = (off + pos) // BLOCK
            inb = (off + pos) % BLOCK
            if c.pad is not None and blk != c.pad_blk:
                self.pad_flush(c)
            if c.pad is None and inb == 0 and n - pos >= BLOCK:
                k = (n - pos) // BLOCK * BLOCK
                self.cache.write(blk * BLOCK, mv[pos:pos + k], True)
                pos += k
                continue
            if c.pad is None:
                c.pad = bytearray(BLOCK)
                c.pad_blk = blk
            k = min(BLOCK - inb, n - pos)
            c.pad[inb:inb + k] = mv[pos:pos + k]
            pos += k
            if inb + k == BLOCK:
                self.pad_flush(c)

    def pad_flush(self, c):
        if c.pad is not None:
            self.cache.write(c.pad_blk * BLOCK, c.pad, True)
            c.pad = None
            c.pad_blk = -1

    def open_path(self, path):
        opener = self.fs.open if self.fs is not None else open
        try:
            return opener(path, "wb")
        except OSError as e:
            raise FwupError("path_write: cannot open '%s': %r" % (path, e))

    # -- actions -------------------------------------------------------------------------

    def block_offset(self, s, action):
        v = to_int(s)
        if v < 0 or v * BLOCK >= (1 << 62):
            raise BlockDeviceError("%s: block offset %r is out of range" % (action, s))
        return v

    def _action(self, name, args):
        p = self.progress
        if name == "info":
            if self.events:
                self.events("WN", 0, args[0])
        elif name == "error":
            raise FwupError(args[0])
        elif name == "raw_memset":
            off = self.block_offset(args[0], name)
            count = to_int(args[1])
            value = to_int(args[2])
            if count < 1 or not 0 <= value <= 255:
                raise FwupError("raw_memset: bad count %r or value %r" % (args[1], args[2]))
            group = 64 if count >= 64 else count
            buf = bytes([value]) * (group * BLOCK)
            done = 0
            while done < count:
                k = min(group, count - done)
                self.cache.write((off + done) * BLOCK, buf if k == group else buf[:k * BLOCK],
                                 True)
                for _ in range(k):
                    p.report(BLOCK)
                done += k
        elif name == "trim":
            off = self.block_offset(args[0], name)
            count = to_int(args[1])
            if count < 0:
                raise FwupError("trim: bad block count %r" % args[1])
            self.cache.trim(off * BLOCK, count * BLOCK)
            p.report(count // 256)
        elif name == "mbr_write":
            sector = mbr.encode(self.meta.mbrs[args[0]], self._device_blocks())
            self.cache.write(0, sector, False)
            p.report(BLOCK)
        elif name.startswith("uboot_"):
            self._uboot_action(name, args)
            off, cnt, red = self.meta.uboot[args[0]]
            p.report(cnt * BLOCK * (2 if red is not None else 1))
        else:
            raise FwupError("%s is only allowed in on-resource" % name)

    def _device_blocks(self):
        lim = self.cache.dev.limit
        return 0 if lim is None else lim // BLOCK

    # -- U-Boot environment --------------------------------------------------------------

    def _uboot_read(self, name):
        """-> (env_raw, flags, write_primary, write_redund)."""
        off, cnt, red = self.meta.uboot[name]
        size = cnt * BLOCK
        buf1 = self.cache.read(off * BLOCK, size)
        if red is None:
            return uboot_env.decode(buf1, False, off, True), 0, True, False
        buf2 = self.cache.read(red * BLOCK, size)
        return uboot_env.choose(buf1, buf2, off, red)

    def _uboot_write(self, name, env, flags, primary, redund):
        off, cnt, red = self.meta.uboot[name]
        size = cnt * BLOCK
        img = uboot_env.encode(env, size, red is not None, flags)
        if primary:
            self.cache.write(off * BLOCK, img, False)
        if redund and red is not None:
            self.cache.write(red * BLOCK, img, False)

    def _uboot_action(self, name, args):
        env_name = args[0]
        if name == "uboot_clearenv":
            self._uboot_write(env_name, {}, 1, True, True)
            return
        if name == "uboot_recover":
            try:
                self._uboot_read(env_name)
            except FwupError:
                self._uboot_write(env_name, {}, 1, True, True)
            return
        env, flags, wp, wr = self._uboot_read(env_name)
        key = args[1].encode("utf-8")
        if name == "uboot_setenv":
            env[key] = args[2].encode("utf-8")
        else:
            env.pop(key, None)
        self._uboot_write(env_name, env, (flags + 1) & 0xFF, wp, wr)
