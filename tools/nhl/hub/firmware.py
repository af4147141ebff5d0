"""Firmware hosting for the simulator: metadata from a .fw file and the `update` payload."""

import hashlib
import os
import re
import zipfile

PART_SIZE = 1 << 20
_META_RE = re.compile(r'^meta-([a-z0-9-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(\S*))', re.M)
_META_KEYS = ("product", "version", "uuid", "platform", "architecture", "author",
              "description", "vcs-identifier", "misc", "fwup-version")


def read_meta(path):
    """The ``firmware_meta`` map from a .fw file's meta.conf ({} when it is not a zip)."""
    try:
        with zipfile.ZipFile(path) as z:
            raw = z.read("meta.conf")
    except (zipfile.BadZipFile, KeyError, OSError):
        return {}
    found = {k: q or bare for k, q, bare in _META_RE.findall(raw.decode("utf-8", "replace"))}
    meta = {}
    for k in _META_KEYS:
        meta[k.replace("-", "_")] = found.get(k)
    if not meta["uuid"]:
        from nerves_hub_link.fwup.metaconf import uuid_and_nickname

        meta["uuid"] = uuid_and_nickname(raw)[0]
    return meta


def checksums(path):
    """(uppercase hex SHA-256 of the file, list of uppercase SHA-256 per 1 MiB part)."""
    whole = hashlib.sha256()
    parts = []
    with open(path, "rb") as f:
        while True:
            block = f.read(PART_SIZE)
            if not block:
                break
            whole.update(block)
            parts.append(hashlib.sha256(block).hexdigest().upper())
    return whole.hexdigest().upper(), parts


def update_payload(url, path, meta):
    checksum, parts = checksums(path)
    return {
        "update_available": True,
        "firmware_url": url,
        "firmware_meta": meta,
        "deployment_id": None,
        "size": os.path.getsize(path),
        "checksum": checksum,
        "partials_checksums": parts,
    }


def parse_range(value, size):
    """``Range: bytes=a-b`` -> (start, end inclusive) clamped to *size*; None if absent/unusable.

    Raises ValueError for a range that starts past the end (the caller answers 416).
    """
    if not value or not value.startswith("bytes="):
        return None
    spec = value[6:].split(",")[0].strip()
    if "-" not in spec:
        return None
    a, b = spec.split("-", 1)
    if a == "":
        if not b.isdigit():
            return None
        n = int(b)
        return (max(0, size - n), size - 1)
    if not a.isdigit() or (b and not b.isdigit()):
        return None
    start = int(a)
    end = int(b) if b else size - 1
    if start >= size:
        raise ValueError("range start %d beyond size %d" % (start, size))
    return (start, min(end, size - 1))
