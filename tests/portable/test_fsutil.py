# heapsize: 128K
"""fsutil: makedirs (nested, existing parts, blocked by a file), exists/is_dir/size, remove of
a missing file, rmtree (whole tree, emptied root, a file, nothing), read_chunks."""

import os
import sys

from nerves_hub_link import fsutil
from support import raises

TMP = "build/tmp_fsutil/" + sys.implementation.name


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_makedirs_creates_missing_parents_and_accepts_existing_ones():
    fsutil.rmtree(TMP)
    assert not fsutil.exists(TMP)
    assert fsutil.makedirs(TMP + "/a/b//c/") == TMP + "/a/b//c/"
    assert fsutil.is_dir(TMP + "/a/b/c")
    fsutil.makedirs(TMP + "/a/b/c")  # all there already
    assert sorted(os.listdir(TMP + "/a/b")) == ["c"]


def test_makedirs_raises_when_a_part_is_a_file():
    fsutil.makedirs(TMP)
    _write(TMP + "/plain", b"x")
    raises(OSError, fsutil.makedirs, TMP + "/plain/sub")
    assert not fsutil.is_dir(TMP + "/plain")
    fsutil.remove(TMP + "/plain")


def test_size_exists_and_remove():
    fsutil.makedirs(TMP)
    _write(TMP + "/five", b"12345")
    assert fsutil.exists(TMP + "/five") and not fsutil.is_dir(TMP + "/five")
    assert fsutil.size(TMP + "/five") == 5
    fsutil.remove(TMP + "/five")
    fsutil.remove(TMP + "/five")  # missing: fine
    assert not fsutil.exists(TMP + "/five")
    raises(OSError, fsutil.size, TMP + "/five")


def test_rmtree_keep_root_empties_and_keeps_the_directory():
    fsutil.makedirs(TMP + "/slot/app/sub")
    _write(TMP + "/slot/app.py", b"print(1)")
    _write(TMP + "/slot/app/sub/m.py", b"")
    fsutil.rmtree(TMP + "/slot", keep_root=True)
    assert fsutil.is_dir(TMP + "/slot")
    assert os.listdir(TMP + "/slot") == []


def test_rmtree_removes_a_tree_a_file_or_nothing():
    fsutil.makedirs(TMP + "/t/x")
    _write(TMP + "/t/x/f", b"1")
    _write(TMP + "/lone", b"2")
    fsutil.rmtree(TMP + "/t")
    fsutil.rmtree(TMP + "/lone")
    fsutil.rmtree(TMP + "/never")
    assert not fsutil.exists(TMP + "/t")
    assert not fsutil.exists(TMP + "/lone")


def test_read_chunks_refills_one_buffer_until_eof():
    fsutil.makedirs(TMP)
    data = bytes(range(256)) * 4 + b"tail"
    _write(TMP + "/chunks", data)
    buf = bytearray(300)
    sizes, out = [], bytearray()
    with open(TMP + "/chunks", "rb") as f:
        for chunk in fsutil.read_chunks(f, buf):
            sizes.append(len(chunk))
            out.extend(chunk)
    assert sizes == [300, 300, 300, 128]
    assert bytes(out) == data
    _write(TMP + "/empty", b"")
    with open(TMP + "/empty", "rb") as f:
        assert list(fsutil.read_chunks(f, buf)) == []
    fsutil.remove(TMP + "/chunks")
    fsutil.remove(TMP + "/empty")
