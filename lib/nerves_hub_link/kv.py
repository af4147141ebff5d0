"""Firmware KV: the ``nerves_fw_*`` key/value store (U-Boot environment on real devices).

Contract (``hal.py``): ``get(key) -> str | None``, ``set(mapping)``, ``all() -> dict``.
``MemoryKV`` keeps it in RAM; ``JSONFileKV`` keeps it in one small JSON file (host
devices, the unix board). A U-Boot-env backed KV plugs in with the same three methods.

Helpers read slot-relative keys: ``active_slot(kv)`` ("a" by default) and
``active(kv, key)`` = ``kv.get("<slot>.<key>")`` falling back to the global key
(validation/revert checks over the whole KV are in ``join.py``).

Largest buffer: ``JSONFileKV`` reads and writes the whole KV as one JSON text (a few hundred
bytes for the ``nerves_fw_*`` keys).
"""

import json

DEFAULT_SLOT = "a"


class MemoryKV:
    """KV in RAM; ``initial`` is copied."""

    def __init__(self, initial=None):
        self._d = dict(initial or {})

    def get(self, key):
        return self._d.get(key)

    def set(self, mapping):
        for k in mapping:
            v = mapping[k]
            if v is None:
                self._d.pop(k, None)
            else:
                self._d[k] = str(v)

    def all(self):
        return dict(self._d)


class JSONFileKV(MemoryKV):
    """KV persisted as a JSON object in ``path`` (rewritten whole on every ``set``).

    A missing file starts empty with ``defaults``; a corrupt file raises ConfigError.
    """

    def __init__(self, path, defaults=None):
        super().__init__(defaults)
        self.path = path
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            if defaults:
                self._save()
            return
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            from nerves_hub_link.errors import ConfigError

            raise ConfigError("KV file %s is not a JSON object: %r" % (path, text[:32]),
                              hint="delete it to start with an empty KV")
        self._d = {}
        for k in data:
            self._d[str(k)] = str(data[k])

    def set(self, mapping):
        super().set(mapping)
        self._save()

    def _save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(self._d))
        import os

        os.rename(tmp, self.path)


def active_slot(kv):
    """``nerves_fw_active``, default "a"."""
    return kv.get("nerves_fw_active") or DEFAULT_SLOT


def active(kv, key):
    """``<active slot>.<key>``, else the global ``key``, else None."""
    v = kv.get(active_slot(kv) + "." + key)
    return v if v is not None else kv.get(key)
