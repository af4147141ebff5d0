# heapsize: 1M
"""file_transfer: uploads into data_path (200 KiB intact, names checked, size capped, bad
chunks abort), send_file chunking per spec 4.3 (1024-byte base64 chunks, 0-based index)."""

import asyncio
import binascii
import os
import sys

from nerves_hub_link import file_transfer as ft
from nerves_hub_link.errors import NervesHubError
from nerves_hub_link.fsutil import makedirs, remove
from support import raises

TMP = "build/tmp_file_transfer/" + sys.implementation.name


def _data(n, seed=1):
    # deterministic, non-repeating bytes (an LCG), so reordered chunks are caught
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = x >> 16 & 0xFF
    return bytes(out)


def _b64(b):
    return binascii.b2a_base64(b)[:-1].decode()


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_200k_upload_arrives_intact():
    r = ft.Receiver(TMP + "/up")
    data = _data(200 * 1024 + 17)
    path = r.start("blob.bin")
    assert path == TMP + "/up/blob.bin"
    for i in range(0, len(data), 1024):
        r.data("blob.bin", _b64(data[i:i + 1024]))
    assert r.stop("blob.bin") == (path, len(data))
    assert _read(path) == data
    remove(path)


def test_start_replaces_an_older_file():
    r = ft.Receiver(TMP + "/up")
    r.start("same.txt")
    r.data("same.txt", _b64(b"old contents that are longer"))
    r.stop("same.txt")
    r.start("same.txt")
    r.data("same.txt", _b64(b"new"))
    r.stop("same.txt")
    assert _read(TMP + "/up/same.txt") == b"new"
    remove(TMP + "/up/same.txt")


def test_traversal_and_odd_names_are_refused():
    r = ft.Receiver(TMP + "/up")
    for bad in ("../escape", "..", ".", "/etc/passwd", "a/b", "a\\b", "nul\x00", "tab\tname",
                "", None, 5, "x" * 256):
        e = raises(NervesHubError, r.start, bad)
        assert "upload refused" in str(e)
    assert r.name is None
    assert ft.check_name("report-2024.csv") == "report-2024.csv"
    assert ft.check_name(".hidden") == ".hidden"


def test_size_cap_aborts_and_removes_the_partial_file():
    r = ft.Receiver(TMP + "/up", max_bytes=2000)
    path = r.start("big.bin")
    r.data("big.bin", _b64(_data(1024)))
    e = raises(NervesHubError, r.data, "big.bin", _b64(_data(1024)))
    assert "2048 bytes is over the 2000-byte limit" in str(e)
    raises(OSError, os.stat, path)
    raises(NervesHubError, r.data, "big.bin", _b64(b"x"))  # no upload in progress


def test_bad_base64_aborts():
    r = ft.Receiver(TMP + "/up")
    path = r.start("b.bin")
    e = raises(NervesHubError, r.data, "b.bin", "!!not base64!")
    assert "not base64" in str(e)
    raises(OSError, os.stat, path)
    r.start("b.bin")
    raises(NervesHubError, r.data, "b.bin", 12)
    raises(OSError, os.stat, path)


def test_chunks_need_a_matching_start():
    r = ft.Receiver(TMP + "/up")
    raises(NervesHubError, r.data, "x.bin", _b64(b"1"))
    r.start("x.bin")
    raises(NervesHubError, r.data, "y.bin", _b64(b"1"))
    raises(NervesHubError, r.stop, "y.bin")
    r.abort()
    raises(OSError, os.stat, TMP + "/up/x.bin")


def _send(path):
    pushes = []
    flushes = []

    def push(event, payload):
        pushes.append((event, payload))
        return str(len(pushes))

    async def flush():
        flushes.append(len(pushes))

    n = asyncio.run(ft.send_file(path, push, flush))
    return n, pushes, flushes


def test_send_file_chunks_match_the_spec():
    makedirs(TMP)
    data = _data(3 * 1024 + 100, seed=7)
    path = TMP + "/send.bin"
    with open(path, "wb") as f:
        f.write(data)
    n, pushes, flushes = _send(path)
    assert n == 4
    assert pushes[0] == ("file-data/start", {"filename": "send.bin"})
    assert pushes[-1] == ("file-data/stop", {"filename": "send.bin"})
    chunks = pushes[1:-1]
    assert [p["chunk"] for e, p in chunks] == [0, 1, 2, 3]
    assert all(e == "file-data" and p["filename"] == "send.bin" for e, p in chunks)
    raw = [binascii.a2b_base64(p["data"]) for e, p in chunks]
    assert [len(b) for b in raw] == [1024, 1024, 1024, 100]
    assert b"".join(raw) == data
    assert chunks[0][1]["data"] == _b64(data[:1024])  # standard base64, no newline
    assert flushes[-1] == len(pushes)
    remove(path)


def test_send_file_flushes_every_few_chunks():
    makedirs(TMP)
    path = TMP + "/many.bin"
    with open(path, "wb") as f:
        f.write(_data(ft.FLUSH_EVERY * 2 * 1024))
    n, pushes, flushes = _send(path)
    assert n == ft.FLUSH_EVERY * 2
    assert flushes == [1 + ft.FLUSH_EVERY, 1 + 2 * ft.FLUSH_EVERY, len(pushes)]
    remove(path)


def test_send_empty_file():
    makedirs(TMP)
    path = TMP + "/empty.txt"
    with open(path, "wb"):
        pass
    n, pushes, flushes = _send(path)
    assert n == 0
    assert [e for e, p in pushes] == ["file-data/start", "file-data/stop"]
    remove(path)


def test_send_file_refusals():
    e = raises(NervesHubError, ft.file_size, TMP + "/missing")
    assert "missing" in str(e)
    makedirs(TMP + "/adir")
    raises(NervesHubError, ft.file_size, TMP + "/adir")
    path = TMP + "/limit.bin"
    with open(path, "wb") as f:
        f.write(b"12345")
    old = ft.SEND_LIMIT
    ft.SEND_LIMIT = 5
    try:
        e = raises(NervesHubError, ft.file_size, path)
        assert "too large (5 bytes, limit 4)" in str(e)
        ft.SEND_LIMIT = 6
        assert ft.file_size(path) == 5
    finally:
        ft.SEND_LIMIT = old
    assert ft.SEND_LIMIT == 10485760
    remove(path)


def test_send_file_stops_when_the_console_is_gone():
    makedirs(TMP)
    path = TMP + "/gone.bin"
    with open(path, "wb") as f:
        f.write(_data(4096))
    sent = []

    def push(event, payload):
        sent.append(event)
        return None if len(sent) > 2 else "1"

    e = raises(NervesHubError, asyncio.run, ft.send_file(path, push))
    assert "not connected" in str(e)
    assert len(sent) == 3
    remove(path)


def test_console_upload_messages_end_to_end():
    from nerves_hub_link.console import Console

    pushes = []
    c = Console(lambda e, p: pushes.append((e, p)) or "1", lambda: 0, data_path=TMP + "/c")
    data = _data(5000, seed=3)
    c.handle("file-data/start", {"filename": "cfg.json", "uploaded_by": 1})
    for i in range(0, len(data), 1024):
        c.handle("file-data", {"filename": "cfg.json", "chunk": i // 1024,
                               "data": _b64(data[i:i + 1024])})
    c.handle("file-data/stop", {"filename": "cfg.json"})
    assert _read(TMP + "/c/cfg.json") == data
    text = "".join(p["data"] for e, p in pushes)
    assert "[received " + TMP + "/c/cfg.json: 5000 bytes]" in text
    pushes.clear()
    c.handle("file-data/start", {"filename": "../../evil"})
    text = "".join(p["data"] for e, p in pushes)
    assert "upload refused" in text
    raises(OSError, os.stat, TMP + "/evil")
    remove(TMP + "/c/cfg.json")
