"""Server ``update`` and ``archive`` payloads, parsed at the edge.

``UpdateInfo.parse(payload)`` follows NervesHubLink's ``UpdateInfo.parse/1``: the payload
must carry both ``firmware_url`` (an http/https URL) and ``firmware_meta`` (a map);
anything else raises ``UpdateError`` naming the offending field. ``FirmwareMetadata`` and
``ArchiveInfo`` never fail on missing fields (they become None) but refuse values of the
wrong type. Largest buffer: none (the payload dict is already decoded).
"""

from nerves_hub_link.errors import UpdateError

META_FIELDS = (
    "architecture",
    "author",
    "description",
    "fwup_version",
    "misc",
    "platform",
    "product",
    "uuid",
    "vcs_identifier",
    "version",
)

ARCHIVE_FIELDS = (
    "architecture",
    "description",
    "platform",
    "size",
    "uploaded_at",
    "url",
    "uuid",
    "version",
)


def _short(v):
    r = repr(v)
    return r if len(r) <= 64 else r[:61] + "..."


def _opt_str(payload, key, what):
    v = payload.get(key)
    if v is None or isinstance(v, str):
        return v
    raise UpdateError("%s field %r must be a string, got %s" % (what, key, _short(v)))


def _opt_int(payload, key, what):
    v = payload.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise UpdateError("%s field %r must be a non-negative integer, got %s"
                          % (what, key, _short(v)))
    return v


def check_url(url, what="firmware_url"):
    """Return ``url`` if it is an absolute http(s) URL with a host, else raise UpdateError."""
    if not isinstance(url, str):
        raise UpdateError("%s must be a string, got %s" % (what, _short(url)))
    i = url.find("://")
    scheme = url[:i].lower() if i > 0 else ""
    if scheme not in ("http", "https"):
        raise UpdateError("%s must be an http or https URL, got %s" % (what, _short(url)),
                          hint="the server sent an unusable download location")
    rest = url[i + 3:]
    host = rest.split("/", 1)[0].split("?", 1)[0]
    if not host or host.startswith(":"):
        raise UpdateError("%s has no host: %s" % (what, _short(url)))
    return url


class FirmwareMetadata:
    """The ``firmware_meta`` map: uuid, version, product, platform, architecture, ..."""

    def __init__(self, **fields):
        for k in META_FIELDS:
            setattr(self, k, fields.get(k))

    @classmethod
    def parse(cls, meta):
        """From the ``firmware_meta`` map; UpdateError for a non-map or a non-string value."""
        if not isinstance(meta, dict):
            raise UpdateError("firmware_meta must be a map, got %s" % _short(meta))
        return cls(**{k: _opt_str(meta, k, "firmware_meta") for k in META_FIELDS})

    def to_dict(self):
        """Every field, None when absent."""
        return {k: getattr(self, k) for k in META_FIELDS}

    def __eq__(self, other):
        return isinstance(other, FirmwareMetadata) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return "FirmwareMetadata(uuid=%r, version=%r, product=%r)" % (
            self.uuid, self.version, self.product)


class UpdateInfo:
    """A parsed ``update`` message.

    Fields: ``firmware_url`` (str), ``firmware_meta`` (FirmwareMetadata), ``size`` (int or
    None), ``checksum`` (upper-case hex SHA-256 or None), ``partials_checksums`` (list),
    ``deployment_id`` (int or None, informational).
    """

    def __init__(self, firmware_url, firmware_meta, size=None, checksum=None,
                 partials_checksums=None, deployment_id=None):
        self.firmware_url = firmware_url
        self.firmware_meta = firmware_meta
        self.size = size
        self.checksum = checksum
        self.partials_checksums = partials_checksums or []
        self.deployment_id = deployment_id

    @classmethod
    def parse(cls, payload):
        """From an ``update`` payload; UpdateError names the offending field."""
        if not isinstance(payload, dict):
            raise UpdateError("update payload must be a map, got %s" % _short(payload))
        for key in ("firmware_url", "firmware_meta"):
            if key not in payload:
                raise UpdateError("update payload has no %r (keys: %s)"
                                  % (key, ", ".join(sorted(payload))),
                                  hint="invalid_params: the update is ignored")
        url = check_url(payload["firmware_url"])
        meta = FirmwareMetadata.parse(payload["firmware_meta"])
        size = _opt_int(payload, "size", "update")
        checksum = _opt_str(payload, "checksum", "update")
        parts = payload.get("partials_checksums")
        if parts is None:
            parts = []
        elif not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
            raise UpdateError("update field 'partials_checksums' must be a list of strings, "
                              "got %s" % _short(parts))
        dep = payload.get("deployment_id")
        if isinstance(dep, bool) or not (dep is None or isinstance(dep, int)):
            dep = None
        return cls(url, meta, size, checksum, parts, dep)

    @property
    def uuid(self):
        """The firmware UUID (``firmware_meta.uuid``)."""
        return self.firmware_meta.uuid

    def __eq__(self, other):
        return (isinstance(other, UpdateInfo) and self.firmware_url == other.firmware_url
                and self.firmware_meta == other.firmware_meta and self.size == other.size
                and self.checksum == other.checksum
                and self.partials_checksums == other.partials_checksums)

    def __repr__(self):
        # The URL may be signed: never show its query string.
        return "UpdateInfo(url=%r, uuid=%r, version=%r)" % (
            redact_url(self.firmware_url), self.firmware_meta.uuid, self.firmware_meta.version)


class ArchiveInfo:
    """A parsed ``archive`` message (url kept as a string, signed for 3600 s)."""

    def __init__(self, **fields):
        for k in ARCHIVE_FIELDS:
            setattr(self, k, fields.get(k))

    @classmethod
    def parse(cls, payload):
        """From an ``archive`` payload; UpdateError without a usable ``url``."""
        if not isinstance(payload, dict):
            raise UpdateError("archive payload must be a map, got %s" % _short(payload))
        fields = {}
        for k in ARCHIVE_FIELDS:
            fields[k] = (_opt_int(payload, k, "archive") if k == "size"
                         else _opt_str(payload, k, "archive"))
        if fields["url"] is None:
            raise UpdateError("archive payload has no 'url'")
        check_url(fields["url"], "archive url")
        return cls(**fields)

    def __repr__(self):
        return "ArchiveInfo(url=%r, uuid=%r, version=%r)" % (
            redact_url(self.url), self.uuid, self.version)


def redact_url(url):
    """The URL without its query string (signed URLs carry credentials there)."""
    if not isinstance(url, str):
        return url
    i = url.find("?")
    return url if i < 0 else url[:i] + "?[REDACTED]"
