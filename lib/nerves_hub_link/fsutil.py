"""File-system helpers shared by the link, the board HALs and the test doubles.

MicroPython has no ``os.path``, ``os.makedirs`` or ``shutil``; these use only ``os.stat``,
``mkdir``, ``listdir``, ``remove`` and ``rmdir``, so they run on both interpreters.
Paths use ``/``. No buffers of their own (``read_chunks`` refills the caller's).
"""

import os

_S_IFDIR = 0x4000


def exists(path):
    """True if *path* names a file or a directory."""
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def is_dir(path):
    try:
        return os.stat(path)[0] & _S_IFDIR != 0
    except OSError:
        return False


def size(path):
    """Size in bytes of the file *path* (OSError if missing)."""
    return os.stat(path)[6]


def read_chunks(f, buf):
    """Yield ``memoryview`` slices of *buf* refilled by ``f.readinto`` until EOF (a slice is
    valid until the next one is taken)."""
    mv = memoryview(buf)
    while True:
        n = f.readinto(buf)
        if not n:
            return
        yield mv[:n]


def makedirs(path):
    """Create the directory *path* and its missing parents; returns *path*.

    An existing part is fine; a part that cannot be created raises ``OSError``.
    """
    cur = "/" if path.startswith("/") else ""
    for part in path.split("/"):
        if not part:
            continue
        cur = cur + part if cur in ("", "/") else cur + "/" + part
        if not exists(cur):
            os.mkdir(cur)
    return path


def remove(path):
    """Remove a file; a missing one is fine."""
    try:
        os.remove(path)
    except OSError:
        pass


def rmtree(path, keep_root=False):
    """Remove a file or a directory tree (a missing path is fine).

    With ``keep_root`` a directory is emptied and kept. Entries that cannot be removed raise
    ``OSError``.
    """
    try:
        names = os.listdir(path)
    except OSError:
        remove(path)  # a file, or nothing at all
        return
    for name in names:
        p = path + "/" + name
        if is_dir(p):
            rmtree(p)
        else:
            os.remove(p)
    if not keep_root:
        os.rmdir(path)
