"""Archive manager: server ``archive`` messages, download to ``data_path``, verification.

Transition table (``status``)::

    status       input                          next         effect
    any          archive, no usable key         unchanged    refused (logged), client not asked
    idle|resch.  archive, client -> download    downloading  file fetched, verified, archive_ready
    idle|resch.  archive, client -> ignore      idle         nothing (the default answer)
    idle|resch.  archive, client -> reschedule  rescheduled  a timer asks the client again
    downloading  archive                        downloading  ignored (one download at a time)
    downloading  done (valid or not)            idle         valid -> archive_ready(info, path)

Files: ``{data_path}/archives/{basename}.download`` while downloading (resumed with the
same downloader as firmware), renamed to ``{data_path}/archives/{basename}`` when complete,
then verified like ``fwup -V``: the ``meta.conf.ed25519`` signature over ``meta.conf``
against the archive keys (``archive_public_keys``, else the firmware keys), and every
resource's size and BLAKE2b-256. An archive that fails is deleted. Nothing is reported to
the server for archives. Largest buffer: meta.conf (< 50 KB) plus one zip inflate chunk.
"""

import binascii
import os

from nerves_hub_link import log
from nerves_hub_link.download import Downloader, redact
from nerves_hub_link.errors import (
    ArchiveError,
    CryptoError,
    FwupError,
    NervesHubError,
    SignatureError,
    UpdateError,
)
from nerves_hub_link.fsutil import makedirs, read_chunks, remove
from nerves_hub_link.update_info import ArchiveInfo
from nerves_hub_link.update_manager import KeyRing

IDLE = "idle"
DOWNLOADING = "downloading"
RESCHEDULED = "update_rescheduled"

READ_SIZE = 4096


def decode_key(key):
    """Raw 32-byte Ed25519 public key from its base64 text (``fwup-key.pub``)."""
    from nerves_hub_link.fwup.keys import decode_public

    return decode_public(key)


class _Verify:
    """ZipStream handler checking signature, meta.conf and resource digests."""

    def __init__(self, keys):
        self.keys = [decode_key(k) for k in keys]
        self.sig = bytearray()
        self.meta = bytearray()
        self.mc = None
        self.hash = None
        self.size = 0
        self.seen = {}
        self.error = None

    def on_entry(self, e):
        name = e.name
        if name == "meta.conf.ed25519":
            e.limit = 64
            return True
        if name == "meta.conf":
            e.limit = 50000
            return True
        if self.mc is None:
            self._meta_done()
        if name.startswith("data/"):
            res = self.mc.resources.get(name[5:])
            if res is None:
                return False
            from nerves_hub_link.crypto import hashes

            self.hash = hashes.blake2b_256()
            self.size = 0
            e.limit = res.data_size
            return True
        return False

    def on_data(self, e, chunk):
        if e.name == "meta.conf.ed25519":
            self.sig.extend(chunk)
        elif e.name == "meta.conf":
            self.meta.extend(chunk)
        else:
            self.hash.update(chunk)
            self.size += len(chunk)

    def on_entry_end(self, e):
        if e.name == "meta.conf":
            self._meta_done()
        elif e.name.startswith("data/") and self.hash is not None:
            name = e.name[5:]
            self.seen[name] = (self.size, binascii.hexlify(self.hash.digest()).decode())
            self.hash = None

    def on_end(self, error):
        if error is not None and self.error is None:
            self.error = error

    def _meta_done(self):
        if self.mc is not None:
            return
        if not self.meta:
            raise ArchiveError("meta.conf not found in the archive")
        if not self.sig:
            raise SignatureError("archive is not signed (no meta.conf.ed25519)")
        if len(self.sig) != 64:
            raise SignatureError("meta.conf.ed25519 is %d bytes, expected 64" % len(self.sig))
        from nerves_hub_link.crypto import ed25519

        msg = bytes(self.meta)
        if not any(ed25519.verify(k, bytes(self.sig), msg) for k in self.keys):
            raise SignatureError("Firmware archive's meta.conf fails digital signature "
                                 "verification.")
        from nerves_hub_link.fwup import metaconf

        self.mc = metaconf.load(msg)

    def check(self):
        if self.error is not None:
            raise self.error
        if self.mc is None:
            self._meta_done()
        for name in self.mc.resource_order:
            res = self.mc.resources[name]
            got = self.seen.get(name)
            if got is None:
                if res.data_size:
                    raise ArchiveError("resource '%s' is missing from the archive" % name)
                continue
            if got[0] != res.data_size:
                raise ArchiveError("resource '%s' is %d bytes, meta.conf says %d"
                                   % (name, got[0], res.data_size))
            if res.blake2b is not None and got[1] != res.blake2b.lower():
                raise SignatureError("resource '%s' BLAKE2b-256 mismatch: expected %s, got %s"
                                     % (name, res.blake2b, got[1]))


def verify_archive(path, public_keys, read_size=READ_SIZE):
    """Check a ``.fw`` file like ``fwup -V``; raises FwupError/CryptoError when it is bad."""
    if not public_keys:
        raise SignatureError("no archive public keys: refusing to trust %s" % path)
    from nerves_hub_link.fwup.zipstream import ZipStream

    v = _Verify(public_keys)
    z = ZipStream(v)
    with open(path, "rb") as f:
        for chunk in read_chunks(f, bytearray(read_size)):
            z.feed(chunk)
    z.finish()
    v.check()
    return v.mc


class FileSink:
    """Downloader sink appending to a file; ``restart`` truncates it."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "wb")
        self.size = 0

    def write(self, chunk):
        self.f.write(chunk)
        self.size += len(chunk)

    def restart(self):
        self.f.close()
        self.f = open(self.path, "wb")
        self.size = 0

    def close(self):
        self.f.close()


def archive_basename(url):
    """File name for an archive URL: the last path segment, made safe."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    i = path.find("://")
    if i >= 0:
        path = path[i + 3:]
        j = path.find("/")
        path = path[j:] if j >= 0 else "/"
    name = path.rstrip("/").split("/")[-1]
    safe = "".join(c if c.isalpha() or c.isdigit() or c in "._-" else "_" for c in name)
    safe = safe.lstrip(".")
    return safe or "archive.fw"


class ArchiveManager:
    """Handles ``archive`` and ``archive_public_keys`` (see the module docstring).

    ``client`` may define ``archive_available(info)`` (default ``"ignore"``; answers
    ``"download"``, ``"ignore"``, ``("reschedule", ms)``) and ``archive_ready(info, path)``.
    ``fallback_keys()`` returns the firmware keys used when no archive key is configured.
    """

    def __init__(self, data_path, open_connection, ticks_ms, client=None, archive_public_keys=(),
                 fallback_keys=None, sleep_ms=None, spawn=None, retry=None):
        self.data_path = data_path.rstrip("/") or "/"
        self.open_connection = open_connection
        self.ticks_ms = ticks_ms
        self.client = client
        self.keys = KeyRing(archive_public_keys)
        self.fallback_keys = fallback_keys
        self.sleep_ms = sleep_ms
        self.spawn = spawn or _create_task
        self.retry = retry
        self.status = IDLE
        self.last_path = None
        self.last_error = None
        self._timer_token = 0

    def usable_keys(self):
        keys = self.keys.list()
        if not keys and self.fallback_keys is not None:
            keys = list(self.fallback_keys())
        return keys

    def on_archive_public_keys(self, payload):
        keys = payload.get("keys") if isinstance(payload, dict) else None
        if not self.keys.replace(keys):
            log.warning("ignoring archive_public_keys without usable keys: %r", keys)

    def add_key(self, key):
        self.keys.add(key)

    def remove_key(self, key):
        self.keys.remove(key)

    def on_archive(self, payload):
        """Handler for the ``archive`` event; returns the resulting status."""
        try:
            info = ArchiveInfo.parse(payload)
        except UpdateError as e:
            log.warning("ignoring archive message: %s", e)
            return self.status
        return self.archive_available(info)

    def archive_available(self, info):
        if self.status == DOWNLOADING:
            log.info("archive %s ignored: a download is running", info.uuid)
            return self.status
        if not self.usable_keys():
            log.error("refusing archive %s: no archive public keys configured", info.uuid)
            return self.status
        self._timer_token += 1
        answer = self._ask(info)
        if answer == "download":
            self.status = DOWNLOADING
            self.spawn(self.download(info))
        elif (isinstance(answer, (tuple, list)) and len(answer) == 2
              and answer[0] == "reschedule" and isinstance(answer[1], int) and answer[1] > 0):
            self.status = RESCHEDULED
            self._timer_token += 1
            self.spawn(self._fire_later(info, answer[1], self._timer_token))
        else:
            if answer != "ignore":
                log.warning("archive_available returned %r; ignoring the archive", answer)
            self.status = IDLE
        return self.status

    def _ask(self, info):
        fn = getattr(self.client, "archive_available", None) if self.client else None
        if fn is None:
            return "ignore"
        try:
            return fn(info)
        except Exception as e:
            log.exception("archive_available", e)
            return "ignore"

    async def _fire_later(self, info, ms, token):
        if self.sleep_ms is not None:
            await self.sleep_ms(ms)
        else:
            import asyncio

            await asyncio.sleep(ms / 1000)
        if token == self._timer_token:
            self.status = IDLE
            self.archive_available(info)

    async def download(self, info):
        """Fetch, verify and hand over one archive; returns the final path or None."""
        folder = self.data_path + "/archives"
        final = folder + "/" + archive_basename(info.url)
        tmp = final + ".download"
        sink = None
        try:
            makedirs(folder)
            remove(tmp)
            sink = FileSink(tmp)
            log.state("archive", "downloading %s" % redact(info.url))
            await Downloader(info.url, sink, self.open_connection, self.ticks_ms,
                             self.sleep_ms, self.retry).run()
            sink.close()
            sink = None
            remove(final)
            os.rename(tmp, final)
            verify_archive(final, self.usable_keys())
        except (FwupError, CryptoError) as e:
            return self._bad(final, e)
        except NervesHubError as e:
            return self._bad(tmp, e)
        except OSError as e:
            return self._bad(tmp, e)
        finally:
            if sink is not None:
                sink.close()
            self.status = IDLE
        self.last_path = final
        self.last_error = None
        log.state("archive", "ready %s" % final)
        fn = getattr(self.client, "archive_ready", None) if self.client else None
        if fn:
            try:
                fn(info, final)
            except Exception as e:
                log.exception("archive_ready", e)
        return final

    def _bad(self, path, err):
        log.state("archive", "failed: %s" % err)
        self.last_error = err
        remove(path)
        return None


def _create_task(coro):
    import asyncio

    return asyncio.create_task(coro)
