"""``fwup -V`` for the applier: hash and count every resource without writing it.
Largest buffer: the hash state.
"""

from nerves_hub_link.errors import ArchiveError, SignatureError
from nerves_hub_link.fwup.applier import hex_digest, resource_hash


class Checker:
    """Consumer of one resource in verify mode."""

    def __init__(self, app, res):
        self.app = app
        self.res = res
        self.count = 0
        self.h, self.kind = resource_hash(res)  # as the applier: a sha256 given is the one checked

    def data(self, chunk):
        self.h.update(chunk)
        self.count += len(chunk)

    def finish(self):
        pass

    def verify(self):
        res = self.res
        if self.count != res.data_size:
            raise ArchiveError("Resource %s has size %d, but meta.conf says %d"
                            % (res.name, self.count, res.data_size))
        got = hex_digest(self.h)
        want = res.sha256 if self.kind == "sha256" else res.blake2b
        if got != want.lower():
            raise SignatureError("Detected %s digest mismatch for %s" % (self.kind, res.name))


def entry(app, e, rname):
    """Start checking archive entry ``e`` (resource ``rname``); True to read its data."""
    res = app.meta.resources.get(rname)
    if res is None:
        raise ArchiveError("Can't find file-resource for %s" % rname)
    app.seen[rname] = True
    app.consumer = Checker(app, res)
    app.after = []
    e.limit = res.data_size
    app.cur = "res"
    return True
