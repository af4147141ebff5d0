"""meta.conf model: metadata, file-resources, tasks, U-Boot environments, MBRs.

``load(data, env=None, mtime=None)`` verifies nothing cryptographic; it computes the UUID
and nickname (spec 2.4), sets ``FWUP_META_UUID``/``FWUP_META_NICKNAME`` for ``${...}``
expansion, parses with ``confuse`` and returns a ``model.MetaConf``
(plain data: the parser's tree is not kept). ``env`` is a dict or a
callable ``name -> str | None`` (MicroPython has no ``os.environ``).

Largest buffer: the meta.conf text (< 50,000 bytes) and its tree.
"""

from nerves_hub_link.errors import ArchiveError, ConfigError
from nerves_hub_link.fwup import FWUP_VERSION, confuse
from nerves_hub_link.fwup.model import MetaConf, Resource, Sec, Task  # noqa: F401 (API)
from nerves_hub_link.fwup.num import to_int

MAX_SIZE = 50000
UUID_PREFIX = b"\x20\x53\xdf\xfb\xd5\x1e\x43\x10\xb9\x3b\x95\x6d\xa8\x9f\x9f\x34"
PARSE_ERROR = "Unexpected error parsing meta.conf"
TAMPER_ERROR = ("meta.conf isn't allowed to change 'meta-uuid', 'meta-nickname', "
                "'$FWUP_META_UUID' or '$FWUP_META_NICKNAME'")

# fwup's 256 nickname words (rows of five words of 3..7 letters, then "zoo"; src/util.c).
_WORDS = (
    "act able about absent abandon add away aisle advice address aim best anger annual analyst "
    "all bone armor assume apology arm cake beach barrel average ask chat bless bitter bargain "
    "bar club brick bronze blanket bid corn cabin camera capital boy dash chalk casual certain "
    "can dice civil cherry coconut cat drip cloud column conduct cup east craft credit crucial "
    "day fall curve debris cushion dry fine dream depend despair egg foil earth dinner dilemma "
    "era gain entry dragon dynamic fan glad exist energy emotion few grit field estate essence "
    "fix head focus expire exhibit fog hood gauge finger fatigue fox idea glove fossil forward "
    "gap jump grunt garlic genuine hat kiwi hello guitar gravity hip lazy inner horror illness "
    "ice link labor indoor initial job loop light invest jealous key math maple laptop lecture "
    "kid mind mimic lonely lottery lab name nasty margin mention mad nose offer middle monitor "
    "mix open owner motion network net pass piano nephew observe nut plug power online ostrich "
    "oak pulp purse palace peasant oil ramp ready phrase popular one ring round praise present "
    "pen safe scrap reason program pig seed shock relief pudding raw sign skill resist raccoon "
    "rug slot snack ripple release run soon spawn salute satisfy say step spray select session "
    "shy tape still silver slender spy text super sphere stomach tag tiny table street supreme "
    "tip trip tired symbol thunder toe undo trade ticket trigger toy visa truth travel uncover "
    "two wasp vague unfold utility van wild vivid valley vibrant web yard zebra voyage weather "
    "zoo"
)


def word(i):
    """Nickname word ``i`` (0..255)."""
    # a scan, not split(): no list of 256 strings on a small heap (single spaces in _WORDS)
    start = 0
    for _ in range(i):
        start = _WORDS.index(" ", start) + 1
    end = _WORDS.find(" ", start)
    return _WORDS[start:end if end >= 0 else len(_WORDS)]


def _hex(b):
    return "".join("%02x" % x for x in b)


def uuid_and_nickname(meta_bytes):
    """fwup's meta-uuid and meta-nickname of the exact meta.conf bytes."""
    from nerves_hub_link.crypto import hashes

    h = hashes.blake2b_256()
    h.update(UUID_PREFIX)
    h.update(meta_bytes)
    d = bytearray(h.digest()[:16])
    d[6] = (d[6] & 0x0F) | 0x50
    x = _hex(d)
    uuid = "%s-%s-%s-%s-%s" % (x[0:8], x[8:12], x[12:16], x[16:20], x[20:32])
    return uuid, word(d[0]) + "-" + word(d[1])


def format_time(t):
    """Unix seconds -> ``%Y-%m-%dT%H:%M:%SZ`` (UTC), without relying on the port's epoch."""
    days, rem = divmod(t, 86400)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, hh, mm, ss)


def format_dos_time(dos):
    """ZIP DOS date/time (read as UTC) -> fwup's timestamp format."""
    t, d = dos & 0xFFFF, dos >> 16
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (
        1980 + (d >> 9), (d >> 5) & 15, d & 31, t >> 11, (t >> 5) & 63, (t & 31) * 2)


def quote(s):
    """Print a string value the way fwup writes meta.conf and ``-m`` output."""
    if s and all(c == "_" or c == "." or ("a" <= c <= "z") or ("A" <= c <= "Z")
                 or ("0" <= c <= "9") for c in s):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _version_tuple(v):
    out = []
    for part in v.split("-")[0].split("+")[0].split("."):
        out.append(to_int(part) if part[:1].isdigit() else 0)
    while len(out) < 3:
        out.append(0)
    return tuple(out[:3])


def parse_funlist(value, what):
    """``{argc, name, args..., argc, name, ...}`` -> list of (name, [args])."""
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    out = []
    i = 0
    while i < len(value):
        argc = to_int(value[i])
        if argc < 1 or i + 1 + argc > len(value):
            raise ArchiveError("%s: malformed %r at item %d" % (PARSE_ERROR, what, i))
        out.append((value[i + 1], value[i + 2:i + 1 + argc]))
        i += 1 + argc
    return out


def _resource(name, opts):
    ln = opts.get("length")
    if ln is None:
        runs = [0]
    elif isinstance(ln, list):
        runs = [to_int(x) for x in ln] or [0]
    else:
        runs = [to_int(ln)]
    for r in runs:
        if r < 0:
            raise ArchiveError("%s: negative length for '%s'" % (PARSE_ERROR, name))
    return Resource(name, runs, opts.get("blake2b-256"), opts.get("sha256"))


def _task(sec):
    o = sec.options()
    reqs = parse_funlist(o.get("reqlist"), "reqlist")
    p1 = o.get("require-partition1-offset")
    if p1 is not None and to_int(p1) >= 0:
        reqs.insert(0, ("require-partition-offset", ["1", p1]))
    events = {}
    for ev in ("on-init", "on-finish", "on-error"):
        secs = sec.sections(ev)
        events[ev] = parse_funlist(secs[-1].get("funlist"), ev) if secs else []
    on_resource = []
    for s in sec.sections("on-resource"):
        on_resource.append((s.title or "", parse_funlist(s.get("funlist"), s.title)))
    return Task(sec.title or "", reqs, events, on_resource)


def _copy(sec):
    return Sec(sec.kind, sec.title, sec.options(), [_copy(s) for s in sec.sections()])


def _metaconf(root, uuid, nickname, creation_date=None):
    mc = MetaConf()
    o = mc.options = root.options()
    for k in o:
        if k.startswith("meta-") and isinstance(o[k], str):
            mc.meta[k] = o[k]
    if "meta-creation-date" not in mc.meta and creation_date:
        mc.meta["meta-creation-date"] = creation_date
    mc.meta["meta-uuid"] = uuid
    mc.meta["meta-nickname"] = nickname
    mc.uuid = uuid
    mc.nickname = nickname
    for s in root.sections("file-resource"):
        mc.resources[s.title] = _resource(s.title, s.options())
        mc.resource_order.append(s.title)
    mc.tasks = [_task(s) for s in root.sections("task")]
    for s in root.sections("uboot-environment"):
        eo = s.options()
        red = eo.get("block-offset-redund")
        mc.uboot[s.title] = (to_int(eo.get("block-offset", "0")),
                             to_int(eo.get("block-count", "0")),
                             None if red is None else to_int(red))
    for s in root.sections("mbr"):
        mc.mbrs[s.title] = _copy(s)
    return mc


_META_ORDER = ("meta-product", "meta-description", "meta-version", "meta-author",
               "meta-platform", "meta-architecture", "meta-creation-date", "meta-fwup-version",
               "meta-misc", "meta-vcs-identifier", "meta-uuid", "meta-nickname")


def metadata_text(mc):
    """``fwup -m`` output."""
    lines = []
    for k in _META_ORDER:
        v = mc.meta.get(k)
        if v is not None and v != "":
            lines.append("%s=%s\n" % (k, quote(v)))
    return "".join(lines)


def _expander(env, local):
    if callable(env):
        get = env
    else:
        d = env if env is not None else {}
        get = d.get

    def expand(name, default):
        v = local.get(name)
        if v is None:
            v = get(name)
        return default if v is None else v

    return expand


def load(data, env=None, mtime=None, dos_time=None):
    """Parse meta.conf bytes into a ``MetaConf`` (see the module docstring)."""
    data = bytes(data)
    uuid, nick = uuid_and_nickname(data)
    local = {"FWUP_META_UUID": uuid, "FWUP_META_NICKNAME": nick}
    guarded = dict(local)
    expand = _expander(env, local)

    def on_call(call, depth):
        if depth != 0 or call.name not in ("define", "define!", "define-eval", "define-eval!"):
            raise ConfigError("function %s() not allowed here" % call.name)
        if len(call.args) != 2:
            raise ConfigError("%s() takes 2 arguments" % call.name)
        name, value = call.args
        if call.name.endswith("!") or expand(name, None) is None:
            local[name] = value
        return []

    try:
        root = confuse.parse(data, expand=expand, on_call=on_call)
    except ConfigError as e:
        raise ArchiveError(PARSE_ERROR, hint=e.message)
    for k in guarded:
        if local.get(k) != guarded[k]:
            raise ArchiveError(TAMPER_ERROR)
    o = root.options()
    if "meta-uuid" in o or "meta-nickname" in o:
        raise ArchiveError(TAMPER_ERROR)
    req = o.get("require-fwup-version")
    if isinstance(req, str) and _version_tuple(req) > _version_tuple(FWUP_VERSION):
        raise ArchiveError(PARSE_ERROR, hint="fwup version '%s' required. This is fwup version "
                           "'%s'." % (req, FWUP_VERSION))
    if mtime is not None:
        created = format_time(mtime)
    elif dos_time:
        created = format_dos_time(dos_time)
    else:
        created = None
    try:
        return _metaconf(root, uuid, nick, created)
    except ConfigError as e:
        raise ArchiveError(PARSE_ERROR, hint=e.message)
