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

Code needed once is loaded late and, on MicroPython, dropped after use (``unload``): the
Ed25519/SHA-512 code while meta.conf is verified, the parser while it is read, ``plan``
(task choice and checks) while the task is set up; ``actions`` (U-Boot, MBR, memset, trim)
only when the task has such actions, ``check`` only for ``-V``.

Largest buffers: meta.conf (< 50 kB) and its model, the zip reader's (see ``zipstream``), one
512-byte pad block, one U-Boot environment while it is being changed.
"""

import sys

from nerves_hub_link.errors import (
    ArchiveError,
    BlockDeviceError,
    FwupError,
    NervesHubError,
    SignatureError,
)
from nerves_hub_link.fwup.events import Progress
from nerves_hub_link.fwup.num import to_int
from nerves_hub_link.fwup.zipstream import MAX_CHUNK, ZipStream, release_window

SIG_NAME = "meta.conf.ed25519"
META_NAME = "meta.conf"
META_MAX = 50000  # metaconf.MAX_SIZE
BLOCK = 512
DATA_ACTIONS = ("raw_write", "path_write")

# phases
_START, _AFTER_SIG, _META, _RESOURCES, _DONE, _FAILED = range(6)

_MP = sys.implementation.name == "micropython"


def unload(*names):
    """MicroPython: forget modules needed once, so the GC frees their code (no-op elsewhere)."""
    if not _MP:
        return
    import gc

    for name in names:
        if sys.modules.pop(name, None) is not None:
            i = name.rfind(".")
            pkg = sys.modules.get(name[:i])
            try:
                delattr(pkg, name[i + 1:])
            except (AttributeError, TypeError):
                pass
    gc.collect()


def is_hex64(s):
    if not isinstance(s, str) or len(s) != 64:
        return False
    for c in s:
        if not ("0" <= c <= "9" or "a" <= c <= "f" or "A" <= c <= "F"):
            return False
    return True


def resource_hash(res):
    """``(hash object, kind)`` that checks ``res``: its ``sha256`` when meta.conf gives one
    (boards have it in C), else BLAKE2b-256 as fwup does."""
    from nerves_hub_link.crypto import hashes

    if res.sha256 is not None:
        if not is_hex64(res.sha256):
            raise ArchiveError("invalid sha256 hash for '%s'" % res.name)
        return hashes.sha256(), "sha256"
    if not is_hex64(res.blake2b):
        raise ArchiveError("invalid blake2b hash for '%s'" % res.name)
    return hashes.blake2b_256(), "blake2b"


def hex_digest(h):
    from nerves_hub_link.crypto.hashes import to_hex

    return to_hex(h.digest())


def resource_name(entry_name):
    """Archive entry name -> fwup resource name (``data/X`` -> ``X``, else ``/Y``)."""
    if entry_name.startswith("data/"):
        return entry_name[5:]
    return "/" + entry_name


def _sig_ok(keys, sig, data):
    from nerves_hub_link.crypto import ed25519

    try:
        for k in keys:
            if ed25519.verify(k, sig, data):
                return True
        return False
    finally:
        ed25519 = None  # noqa: F841 (drop the last reference before unloading)
        unload("nerves_hub_link.crypto.ed25519", "nerves_hub_link.crypto.sha512")


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
        self.h, self.kind = resource_hash(res)
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
                    raise ArchiveError("%s wrote more than %d bytes for '%s'"
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
                raise ArchiveError(
                    "%s didn't write anything and was likely called twice in an on-resource "
                    "for '%s'. Try a \"cp\" function." % (self.action, res.name))
            raise ArchiveError("%s wrote %d bytes for '%s', but should have written %d"
                            % (self.action, self.count, res.name, res.data_size))
        got = hex_digest(self.h)
        self.app.hashes_used[self.kind] = self.app.hashes_used.get(self.kind, 0) + 1
        want = res.sha256 if self.kind == "sha256" else res.blake2b
        if got != want.lower():
            raise SignatureError("%s detected %s mismatch on '%s'"
                                 % (self.action, self.kind, res.name))


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
        except MemoryError:
            # a failure like any other: writes are undone and on-error runs, with the
            # decoder's window and buffers freed first so the undo has room
            self.zs.release()
            err = FwupError("Out of memory: the heap is too small for this archive",
                            hint="docs/fwup-heap.md lists the heap each kind of archive needs")
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
            if e.usize and not (10 <= e.usize < META_MAX) and not e.flags & 8:
                raise ArchiveError("Unexpected meta.conf size: %d" % e.usize)
            self.phase = _META
            self.meta_entry = e
            self.meta_buf = bytearray()
            e.limit = META_MAX
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
            # read: from here on errors keep their own text (see _guard)
            self.cur = None
            data = self.meta_buf
            self.meta_buf = None
            if not (10 <= len(data) < META_MAX):
                raise ArchiveError("Unexpected meta.conf size: %d" % len(data))
            self._start(bytes(data), e)
        else:
            self._resource_end()
        self.cur = None

    def on_end(self, err):
        if self.phase != _RESOURCES:
            return
        names = self.meta.resource_order if self.mode == "verify" else \
            [n for n, _a in self.task.on_resource]
        for name in names:
            if name not in self.seen:
                raise ArchiveError("Resource %s not found in archive" % name)
        if self.mode == "verify":
            self.phase = _DONE
            return
        release_window()  # nothing is inflated any more: U-Boot environments get its room
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
            if not _sig_ok(self.keys, self.sig, data):
                raise SignatureError(
                    "Firmware archive's meta.conf fails digital signature verification.")
        from nerves_hub_link.fwup import metaconf

        try:
            self.meta = metaconf.load(data, self.env, entry.mtime, entry.dos_time)
        finally:
            metaconf = None  # noqa: F841
            unload("nerves_hub_link.fwup.metaconf", "nerves_hub_link.fwup.confuse")
        if self.mode == "meta":
            self.phase = _DONE
            return
        if self.mode == "verify":
            self.phase = _RESOURCES
            return
        from nerves_hub_link.fwup import plan

        try:
            plan.setup(self)
        finally:
            plan = None  # noqa: F841
            unload("nerves_hub_link.fwup.plan")
        self.phase = _RESOURCES
        for name, args in self.task.events["on-init"]:
            self._action(name, args)

    # -- resources -----------------------------------------------------------------------

    def _resource_entry(self, e):
        if self.phase != _RESOURCES:
            return False
        rname = resource_name(e.name)
        if not rname or rname == "/":
            return False
        if self.mode == "verify":
            from nerves_hub_link.fwup import check

            return check.entry(self, e, rname)
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
            if name in DATA_ACTIONS:
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

    def _resource_end(self):
        c = self.consumer
        self.consumer = None
        c.finish()
        c.verify()
        after = self.after
        self.after = None
        for name, args in after:
            if name in DATA_ACTIONS:
                res = c.res
                raise ArchiveError(
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
        if name == "info":
            if self.events:
                self.events("WN", 0, args[0])
        elif name == "error":
            raise FwupError(args[0])
        elif name in DATA_ACTIONS:
            raise ArchiveError("%s is only allowed in on-resource" % name)
        else:
            from nerves_hub_link.fwup import actions

            actions.run(self, name, args)
