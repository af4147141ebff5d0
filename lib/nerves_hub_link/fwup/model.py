"""The parsed meta.conf as plain data: ``MetaConf``, ``Resource``, ``Task``, ``Sec``.

``metaconf.load`` builds these; they hold no parser objects, so an applier on a small heap
can drop the parser modules (``confuse``, ``metaconf``) once meta.conf is read.
No buffers: the objects hold meta.conf's strings.
"""


class Sec:
    """A copy of a meta.conf section (``mbr``): ``title``, ``options()``, ``sections(kind)``."""

    def __init__(self, kind, title, opts, subs):
        self.kind = kind
        self.title = title
        self.opts = opts
        self.subs = subs

    def options(self):
        return self.opts

    def get(self, name, default=None):
        return self.opts.get(name, default)

    def sections(self, kind=None):
        return [s for s in self.subs if kind is None or s.kind == kind]


class Resource:
    """A ``file-resource``: ``runs`` alternates data and hole lengths (starts with data)."""

    def __init__(self, name, runs, blake2b, sha256):
        self.name = name
        self.runs = runs
        self.data_size = sum(runs[0::2])
        self.total_size = sum(runs)
        self.blake2b = blake2b
        self.sha256 = sha256

    @property
    def sparse(self):
        return len(self.runs) > 1


class Task:
    """A ``task``: ``reqs``, ``events`` (on-init/on-finish/on-error action lists) and
    ``on_resource`` [(resource name, actions)] in meta.conf order."""

    def __init__(self, name, reqs, events, on_resource):
        self.name = name
        self.reqs = reqs
        self.events = events
        self.on_resource = on_resource

    def handler(self, resource):
        for name, actions in self.on_resource:
            if name == resource:
                return actions
        return None


class MetaConf:
    """Parsed meta.conf: ``meta`` (meta-* strings plus derived ones), ``options`` (top-level
    options), ``resources``/``resource_order``, ``tasks``, ``uboot`` (name -> (offset, count,
    redundant offset or None)), ``mbrs`` (name -> ``Sec``)."""

    def __init__(self):
        self.meta = {}
        self.options = {}
        self.uuid = self.nickname = None
        self.resources = {}
        self.resource_order = []
        self.tasks = []
        self.uboot = {}
        self.mbrs = {}

    def task_names(self):
        return sorted(t.name for t in self.tasks)
