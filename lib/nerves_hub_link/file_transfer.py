"""Console file transfer (spec 4.3): uploads from the web console, ``send_file`` to it.

``Receiver(data_path)`` handles ``file-data/start`` (make ``data_path``, truncate the file),
``file-data`` (append the base64-decoded chunk; chunk indexes are ignored, order is arrival
order, like NervesHubLink) and ``file-data/stop`` (close). Unlike NervesHubLink, names are
checked: a name must be a plain file name (no ``/``, ``\\``, NUL or control characters, not
``.``/``..``, at most ``MAX_NAME`` characters) and an upload is capped at ``max_bytes``; a
refused or failed upload raises ``NervesHubError`` and leaves no partial file.

``send_file(path, push, flush)`` uploads a file to the console: ``file-data/start``
``{"filename": basename}``, ``file-data`` ``{"filename", "chunk": i, "data": base64}`` with
``CHUNK`` (1024) bytes per chunk, ``i`` = 0, 1, 2..., then ``file-data/stop``. Files of
``SEND_LIMIT`` (10 MiB) or more are refused, as in NervesHubLink.

Largest buffers: one decoded upload chunk; ``CHUNK`` bytes read plus its base64 text.
"""

import binascii
import os

from nerves_hub_link import log
from nerves_hub_link.errors import NervesHubError
from nerves_hub_link.fsutil import makedirs, read_chunks, remove

CHUNK = 1024
SEND_LIMIT = 10485760  # NervesHubLink: size must be < 10 MiB
MAX_UPLOAD = 10485760
MAX_NAME = 255
FLUSH_EVERY = 8  # chunks queued before waiting for the socket


def check_name(name):
    """Return *name* if it is a safe plain file name, else raise NervesHubError."""
    if not isinstance(name, str) or not name:
        raise NervesHubError("upload refused: file name %r is not a non-empty string" % (name,))
    if len(name) > MAX_NAME:
        raise NervesHubError("upload refused: file name is %d characters (limit %d)"
                             % (len(name), MAX_NAME))
    if name in (".", ".."):
        raise NervesHubError("upload refused: file name %r" % name)
    for c in name:
        if c in "/\\" or c < " " or c == "\x7f":
            raise NervesHubError("upload refused: file name %r contains %r" % (name, c),
                                 hint="only plain names are accepted; uploads go to data_path")
    return name


class Receiver:
    """Writes console uploads into ``data_path`` (one upload at a time)."""

    def __init__(self, data_path, max_bytes=MAX_UPLOAD):
        self.data_path = data_path.rstrip("/") or "/"
        self.max_bytes = max_bytes
        self.name = None
        self.path = None
        self.size = 0
        self.chunks = 0
        self._f = None

    def _join(self, name):
        return ("/" if self.data_path == "/" else self.data_path + "/") + name

    def start(self, filename):
        """Begin an upload: the file is created empty (an older one is replaced)."""
        name = check_name(filename)
        self.abort()
        path = self._join(name)
        try:
            makedirs(self.data_path)
            remove(path)
            self._f = open(path, "wb")
        except OSError as e:
            raise NervesHubError("upload of %r: cannot create %s: %s" % (name, path, e))
        self.name, self.path, self.size, self.chunks = name, path, 0, 0
        log.state("console upload", "%s started" % name)
        return path

    def data(self, filename, b64):
        """Append one base64 chunk of the current upload."""
        if self._f is None or filename != self.name:
            raise NervesHubError("file-data for %r without file-data/start (current upload: %r)"
                                 % (filename, self.name))
        if not isinstance(b64, str):
            self.abort()
            raise NervesHubError("upload of %r aborted: chunk data is %r, not base64 text"
                                 % (filename, type(b64).__name__))
        try:
            chunk = binascii.a2b_base64(b64)
        except ValueError as e:
            name = self.name
            self.abort()
            raise NervesHubError("upload of %r aborted: chunk %d is not base64 (%s): %r"
                                 % (name, self.chunks, e, b64[:32]))
        if self.size + len(chunk) > self.max_bytes:
            name, size = self.name, self.size + len(chunk)
            self.abort()
            raise NervesHubError("upload of %r aborted: %d bytes is over the %d-byte limit"
                                 % (name, size, self.max_bytes))
        try:
            self._f.write(chunk)
        except OSError as e:
            name = self.name
            self.abort()
            raise NervesHubError("upload of %r aborted: write failed after %d bytes: %s"
                                 % (name, self.size, e), hint="is the file system full?")
        self.size += len(chunk)
        self.chunks += 1

    def stop(self, filename):
        """Finish the upload; returns (path, size)."""
        if self._f is None or filename != self.name:
            raise NervesHubError("file-data/stop for %r, but the current upload is %r"
                                 % (filename, self.name))
        self._f.close()
        self._f = None
        done = (self.path, self.size)
        log.state("console upload", "%s received (%d bytes)" % (self.name, self.size))
        self.name = None
        return done

    def abort(self):
        """Drop an unfinished upload and its partial file."""
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None
            remove(self.path)
            log.state("console upload", "%s aborted after %d bytes" % (self.name, self.size))
        self.name = None


def _basename(path):
    return path.rstrip("/").rsplit("/", 1)[-1]


def file_size(path):
    """Size of a regular file, or NervesHubError (missing, a directory, over the limit)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise NervesHubError("send_file %s: %s" % (path, e))
    if st[0] & 0o170000 != 0o100000:
        raise NervesHubError("send_file %s: not a regular file" % path)
    size = st[6]
    if size >= SEND_LIMIT:
        raise NervesHubError("send_file %s: too large (%d bytes, limit %d)"
                             % (path, size, SEND_LIMIT - 1))
    return size


def chunk_payload(filename, index, data):
    """The ``file-data`` payload for one chunk (``data`` at most ``CHUNK`` bytes)."""
    b64 = binascii.b2a_base64(data)
    return {"filename": filename, "chunk": index, "data": b64[:-1].decode()}


async def send_file(path, push, flush=None):
    """Upload *path* to the web console; returns the number of chunks sent.

    ``push(event, payload)`` queues a console push (a falsy return means it was dropped:
    the upload stops with NervesHubError); ``flush()`` is awaited every ``FLUSH_EVERY``
    chunks so the queue stays short.
    """
    file_size(path)
    name = _basename(path)
    buf = bytearray(CHUNK)

    def send(event, payload):
        if push(event, payload) is None:
            raise NervesHubError("send_file %s: console not connected" % path)

    send("file-data/start", {"filename": name})
    index = 0
    with open(path, "rb") as f:
        for chunk in read_chunks(f, buf):
            send("file-data", chunk_payload(name, index, chunk))
            index += 1
            if flush is not None and index % FLUSH_EVERY == 0:
                await flush()
    send("file-data/stop", {"filename": name})
    if flush is not None:
        await flush()
    log.state("console download", "%s sent (%d chunks)" % (name, index))
    return index
