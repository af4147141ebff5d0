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

import os

from nerves_hub_link import log
from nerves_hub_link.download import Downloader, redact
from nerves_hub_link.errors import (
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


def verify_archive(path, public_keys, read_size=READ_SIZE):
    """Check a ``.fw`` file like ``fwup -V`` (signature, then every resource's digest).

    Returns the archive's meta.conf model; raises FwupError (or CryptoError for a bad key).
    """
    if not public_keys:
        raise SignatureError("no archive public keys: refusing to trust %s" % path)
    from nerves_hub_link.fwup.applier import Applier

    app = Applier(None, "", public_keys=[decode_key(k) for k in public_keys], mode="verify")
    with open(path, "rb") as f:
        for chunk in read_chunks(f, bytearray(read_size)):
            app.feed(chunk)
    app.finish()
    return app.meta


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
        """The archive keys, else the firmware keys from ``fallback_keys()``."""
        keys = self.keys.list()
        if not keys and self.fallback_keys is not None:
            keys = list(self.fallback_keys())
        return keys

    def on_archive_public_keys(self, payload):
        """Handler for ``archive_public_keys``: replace the keys (never cleared by [])."""
        keys = payload.get("keys") if isinstance(payload, dict) else None
        if not self.keys.replace(keys):
            log.warning("ignoring archive_public_keys without usable keys: %r", keys)

    def add_key(self, key):
        """Trust one more base64 archive public key."""
        self.keys.add(key)

    def remove_key(self, key):
        """Stop trusting an archive public key."""
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
        """Decide on a parsed ``ArchiveInfo`` (see the table); returns the resulting status."""
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
        except (NervesHubError, OSError) as e:
            if sink is not None:  # close before deleting: FAT refuses to remove an open file
                sink.close()
                sink = None
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
