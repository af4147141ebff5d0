"""fwup.conf at creation time: strict schema, create-time checks, meta.conf printer.

Built on ``confuse.parse`` (lexing, ``${VAR}`` expansion, call hooks). This layer adds
what only the creator needs (spec 2.1, 2.3, 12):

* ``define``/``define!``/``define-eval``/``define-eval!`` change the variables later
  ``${...}`` see; ``include("file")`` splices another file (path relative to the including
  file); ``FWUP_SIZE_<resource>`` is defined from each ``host-path``;
  ``FWUP_META_UUID``/``FWUP_META_NICKNAME`` expand to themselves (apply-time references).
* The schema of fwup 1.16 with option types and defaults; unknown options, bad values, bad
  action arguments and references to undeclared resources/mbr/uboot-environment are
  ``ConfigError`` naming ``file:line``.
* ``Conf.meta_conf()`` prints meta.conf byte-exact (schema order, quoting, defaults and
  creation-only options dropped, empty sections removed except tasks).

API::

    conf = load(path, env=dict_of_variables, read_text=None)
    conf.resources            # file-resource ``Sec`` objects in declaration order
    conf.meta_conf() -> bytes

Largest buffer: the config text and its tree (config files are small).
"""

from nerves_hub_link.errors import ConfigError
from nerves_hub_link.fwup import confuse

FWUP_VERSION = "1.16.0"
INT32_MAX = 0x7FFFFFFF

# Option types: s=str, i=int, b=bool, il=int list, sl=str list; sec=titled multi section,
# one=untitled single section.
_EVENT = [("funlist", "sl", None)]
SCHEMA = {
    "": [
        ("meta-product", "s", None), ("meta-description", "s", None),
        ("meta-version", "s", None), ("meta-author", "s", None),
        ("meta-platform", "s", None), ("meta-architecture", "s", None),
        ("meta-creation-date", "s", None), ("meta-fwup-version", "s", None),
        ("meta-vcs-identifier", "s", None), ("meta-misc", "s", None),
        ("meta-uuid", "s", None), ("meta-nickname", "s", None),
        ("require-fwup-version", "s", "0"), ("block-cache-size-mb", "i", 8),
        ("file-resource", "sec", None), ("mbr", "sec", None), ("gpt", "sec", None),
        ("task", "sec", None), ("uboot-environment", "sec", None),
    ],
    "file-resource": [
        ("host-path", "s", None), ("skip-holes", "b", False), ("length", "il", 0),
        ("contents", "s", None), ("blake2b-256", "s", None), ("sha256", "s", None),
        ("assert-size-lte", "i", -1), ("assert-size-gte", "i", -1),
    ],
    "mbr": [
        ("bootstrap-code-host-path", "s", None), ("bootstrap-code", "s", None),
        ("include-osip", "b", False), ("osip-major", "i", 1), ("osip-minor", "i", 0),
        ("osip-num-pointers", "i", 1), ("signature", "s", None),
        ("partition", "sec", None), ("osii", "sec", None),
    ],
    "mbr/partition": [
        ("block-offset", "s", None), ("block-count", "i", INT32_MAX), ("type", "i", -1),
        ("boot", "b", False), ("expand", "b", False),
    ],
    "mbr/osii": [
        ("os-major", "i", 0), ("os-minor", "i", 0), ("start-block-offset", "i", 0),
        ("ddr-load-address", "i", 0), ("entry-point", "i", 0),
        ("image-size-blocks", "i", 0), ("attribute", "i", 0xF),
    ],
    "gpt": [("guid", "s", None), ("partition", "sec", None)],
    "gpt/partition": [
        ("block-offset", "s", None), ("block-count", "i", INT32_MAX), ("type", "s", None),
        ("guid", "s", None), ("name", "s", ""), ("flags", "s", "0"),
        ("expand", "b", False), ("boot", "b", False),
    ],
    "uboot-environment": [
        ("block-offset", "s", None), ("block-count", "i", INT32_MAX),
        ("block-offset-redund", "s", None),
    ],
    "task": [
        ("reqlist", "sl", None), ("require-partition1-offset", "i", -1),
        ("require-unmounted-destination", "b", False), ("verify-on-the-fly", "b", False),
        ("on-init", "one", None), ("on-finish", "one", None), ("on-error", "one", None),
        ("on-resource", "sec", None),
    ],
    "task/on-init": _EVENT,
    "task/on-finish": _EVENT,
    "task/on-error": _EVENT,
    "task/on-resource": [
        ("verify-on-the-fly", "b", False), ("delta-source-raw-offset", "s", None),
        ("delta-source-raw-count", "i", INT32_MAX), ("delta-source-raw-options", "s", None),
        ("delta-source-fat-offset", "s", None), ("delta-source-fat-path", "s", None),
        ("funlist", "sl", None),
    ],
}
# Printed nowhere in meta.conf (creation-only or computed when read).
_SCRUB = ("host-path", "bootstrap-code-host-path", "contents", "skip-holes", "meta-uuid",
          "meta-nickname", "meta-creation-date")

_U = "u"      # complete non-negative C integer
_POS = "p"    # complete integer >= 1
_ENV = "env"  # name of an earlier uboot-environment
_MBR = "mbr"
_GPT = "gpt"
# name: (allowed argc values incl. the name (None = at least 2), on-resource only, arg kinds)
ACTIONS = {
    "raw_write": (None, True, {1: _U}),
    "raw_memset": ((4,), False, {1: _U, 2: _POS}),
    "trim": ((3,), False, {1: _U, 2: _POS}),
    "fat_mkfs": ((3,), False, {1: _U, 2: _U}),
    "fat_attrib": ((4,), False, {1: _U}),
    "fat_write": ((2, 3), True, {1: _U}),
    "fat_cp": ((4, 5), False, {1: _U}),
    "fat_mv": ((4,), False, {1: _U}),
    "fat_mv!": ((4,), False, {1: _U}),
    "fat_rm": ((3,), False, {1: _U}),
    "fat_rm!": ((3,), False, {1: _U}),
    "fat_mkdir": ((3,), False, {1: _U}),
    "fat_setlabel": ((3,), False, {1: _U}),
    "fat_touch": ((3,), False, {1: _U}),
    "gpt_write": ((2,), False, {1: _GPT}),
    "mbr_write": ((2,), False, {1: _MBR}),
    "uboot_clearenv": ((2,), False, {1: _ENV}),
    "uboot_recover": ((2,), False, {1: _ENV}),
    "uboot_setenv": ((4,), False, {1: _ENV}),
    "uboot_unsetenv": ((3,), False, {1: _ENV}),
    "error": ((2,), False, {}),
    "info": ((2,), False, {}),
    "path_write": ((2,), True, {}),
    "pipe_write": ((2,), True, {}),
    "ubi_volume_write": ((2,), True, {}),
    "execute": ((2,), False, {}),
    "reboot_param": ((2,), False, {}),
}
REQUIREMENTS = {
    "require-partition-offset": (3, {1: "part", 2: _U}),
    "require-fat-file-exists": (3, {1: _U}),
    "require-fat-file-match": (4, {1: _U}),
    "require-uboot-variable": (4, {1: _ENV}),
    "require-path-on-device": (3, {}),
    "require-path-at-offset": (3, {2: _U}),
    "require-execute": (2, {}),
}
_DEFINES = ("define", "define!", "define-eval", "define-eval!")


class Sec:
    """A typed section: ``values`` (option -> value), ``children`` (kind -> list of Sec)."""

    def __init__(self, key, kind, title, src, line):
        self.key = key
        self.kind = kind
        self.title = title
        self.src = src
        self.line = line
        self.values = {}
        self.children = {}

    def get(self, name):
        """The value of an option, or its schema default."""
        if name in self.values:
            return self.values[name]
        for n, _t, d in SCHEMA[self.key]:
            if n == name:
                return d
        raise KeyError(name)

    def sections(self, kind):
        return self.children.get(kind, [])

    def where(self):
        return "%s:%d" % (self.src, self.line)


class Conf:
    """A parsed fwup.conf (the root ``Sec`` plus helpers)."""

    def __init__(self, root, path, env):
        self.root = root
        self.path = path
        self.env = env

    @property
    def resources(self):
        return self.root.sections("file-resource")

    def meta_conf(self):
        """meta.conf bytes as fwup 1.16 prints them (spec 2.1)."""
        out = []
        _print(self.root, out)
        text = "".join(out)
        return (text or "# Empty file\n").encode("utf-8")


# ---- printing ------------------------------------------------------------------------

_OK_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_."


def format_value(v):
    """One meta.conf value: ints decimal, bools true/false, strings bare or quoted."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return "%d" % v
    if v:
        for c in v:
            if c not in _OK_CHARS:
                break
        else:
            return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _print(sec, out):
    for name, typ, default in SCHEMA[sec.key]:
        if typ in ("sec", "one"):
            for child in sec.children.get(name, ()):
                start = len(out)
                if child.title is None:
                    out.append("%s {\n" % name)
                else:
                    out.append('%s "%s" {\n' % (name, child.title))
                n = len(out)
                _print(child, out)
                if len(out) == n and name != "task":
                    del out[start:]
                else:
                    out.append("}\n")
            continue
        if name not in sec.values:
            continue
        v = sec.values[name]
        if isinstance(v, list):
            if len(v) > 1:
                out.append("%s={%s}\n" % (name, ",".join([format_value(x) for x in v])))
                continue
            if not v:
                continue
            v = v[0]
        if v is None or v == "" or v == default or name in _SCRUB:
            continue
        if name.startswith("assert-"):
            continue
        out.append("%s=%s\n" % (name, format_value(v)))


# ---- helpers ---------------------------------------------------------------------------


def _dirname(path):
    i = path.rfind("/")
    if i < 0:
        return "."
    return path[:i] if i > 0 else "/"


def relative_to(src, path):
    """``path`` relative to the directory of file ``src`` (absolute and ``~`` paths kept)."""
    if path.startswith("/") or path.startswith("~"):
        return path
    return _dirname(src) + "/" + path


def _is_uint(s):
    s = s.strip()
    if not s or s[0] in "+-":
        return False
    try:
        confuse.to_int(s, strict=True)
    except ValueError:
        return False
    return True


def _semver(s):
    main = s
    pre = None
    for sep in ("+",):
        if sep in main:
            main = main[:main.index(sep)]
    if "-" in main:
        main, pre = main.split("-", 1)
    parts = main.split(".")
    if not 1 <= len(parts) <= 3:
        raise ValueError(s)
    nums = [int(p) for p in parts] + [0] * (3 - len(parts))
    return nums, pre


def _version_le(req, have):
    a, apre = _semver(req)
    b, bpre = _semver(have)
    if a != b:
        return a < b
    if apre == bpre or apre is not None:
        return True
    return False


def eval_math(expr):
    """fwup's define-eval arithmetic: + - * / ^ (power, right-assoc), unary minus,
    parentheses, C-notation numbers with dd suffixes (c w b kB K MB M GB G)."""
    p = _MathParser(expr)
    v = p.expr()
    p.skip()
    if p.i != len(expr):
        raise ValueError("unexpected %r at offset %d" % (expr[p.i:p.i + 8], p.i))
    return v


_SUFFIXES = (("kB", 1000), ("MB", 1000000), ("GB", 1000000000), ("c", 1), ("w", 2),
             ("b", 512), ("K", 1024), ("M", 1 << 20), ("G", 1 << 30))


class _MathParser:
    def __init__(self, s):
        self.s = s
        self.i = 0

    def skip(self):
        while self.i < len(self.s) and self.s[self.i] in " \t\n":
            self.i += 1

    def peek(self):
        self.skip()
        return self.s[self.i:self.i + 1]

    def expr(self):
        v = self.term()
        while self.peek() in ("+", "-") and self.peek():
            op = self.s[self.i]
            self.i += 1
            r = self.term()
            v = v + r if op == "+" else v - r
        return v

    def term(self):
        v = self.power()
        while self.peek() in ("*", "/") and self.peek():
            op = self.s[self.i]
            self.i += 1
            r = self.power()
            if op == "*":
                v = v * r
            else:
                if r == 0:
                    raise ValueError("division by zero")
                q = abs(v) // abs(r)
                v = q if (v < 0) == (r < 0) else -q
        return v

    def power(self):
        v = self.unary()
        if self.peek() == "^":
            self.i += 1
            e = self.power()
            if e < 0:
                raise ValueError("negative exponent")
            v = v ** e
        return v

    def unary(self):
        c = self.peek()
        if c == "-":
            self.i += 1
            return -self.unary()
        if c == "+":
            self.i += 1
            return self.unary()
        if c == "(":
            self.i += 1
            v = self.expr()
            if self.peek() != ")":
                raise ValueError("missing ')'")
            self.i += 1
            return v
        return self.number()

    def number(self):
        s = self.s
        j = self.i
        while j < len(s) and (s[j] in "0123456789abcdefABCDEFxX"):
            j += 1
        # Let a trailing b/B... suffix win over hex digits only for non-hex numbers.
        tok = s[self.i:j]
        if not tok.lower().startswith("0x"):
            j = self.i
            while j < len(s) and "0" <= s[j] <= "9":
                j += 1
            tok = s[self.i:j]
        if not tok:
            raise ValueError("expected a number at offset %d" % self.i)
        try:
            v = confuse.to_int(tok, strict=True)
        except ValueError:
            raise ValueError("bad number %r" % tok)
        self.i = j
        for suf, mult in _SUFFIXES:
            if s.startswith(suf, j):
                self.i = j + len(suf)
                v *= mult
                break
        return v


# ---- loading ---------------------------------------------------------------------------


def _read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError("can't read %s: %s" % (path, e), hint="check the path")
    try:
        return str(data, "utf-8")
    except UnicodeError:
        raise ConfigError("%s is not valid UTF-8" % path)


def _tag(nodes, src):
    for n in nodes:
        if getattr(n, "src", None) is None:
            n.src = src
        if isinstance(n, confuse.Section):
            _tag(n.items, src)


class _Loader:
    def __init__(self, path, env, read_text, sizes):
        self.path = path
        self.env = env
        self.read_text = read_text
        self.sizes = sizes          # FWUP_SIZE_* values (second pass) or None
        self.size_refs = False      # a FWUP_SIZE_* variable was referenced

    def expand(self, name, default):
        if name.startswith("FWUP_SIZE_"):
            self.size_refs = True
            if self.sizes is not None and name in self.sizes:
                return self.sizes[name]
        v = self.env.get(name)
        if v is None:
            return default if default is not None else ""
        return v

    def parse_file(self, path):
        text = self.read_text(path)

        def on_call(call, depth):
            return self.on_call(call, depth, path)

        root = confuse.parse(text, expand=self.expand, on_call=on_call, name=path)
        _tag(root.items, path)
        return root

    def on_call(self, call, depth, src):
        where = "%s:%d" % (src, call.line)
        if call.name in _DEFINES:
            if depth != 0:
                raise ConfigError("%s: %s() is only allowed at the top level" % (where, call.name))
            if len(call.args) != 2:
                raise ConfigError("%s: '%s' requires 2 parameters, got %d"
                                  % (where, call.name, len(call.args)),
                                  hint='write %s(NAME, "value")' % call.name)
            key, value = call.args
            if call.name.startswith("define-eval"):
                try:
                    value = "%d" % eval_math(value)
                except ValueError as e:
                    raise ConfigError("%s: error evaluating %r: %s" % (where, value, e))
            if call.name.endswith("!") or self.env.get(key) is None:
                self.env[key] = value
            return []
        if call.name == "include":
            if len(call.args) != 1:
                raise ConfigError("%s: 'include' requires 1 parameter" % where)
            name = call.args[0]
            if not name:
                raise ConfigError("%s: cannot include the contents of an undefined variable"
                                  % where)
            path = relative_to(src, name)
            try:
                root = self.parse_file(path)
            except ConfigError as e:
                if e.message.startswith("can't read"):
                    raise ConfigError("%s: cannot include '%s': file not found (looked for %s)"
                                      % (where, name, path))
                raise
            return root.items
        return None


def load(path, env=None, read_text=None):
    """Parse and check the fwup.conf at ``path``; ``env`` is the variable dict (copied)."""
    read_text = read_text or _read_text
    base = dict(env or {})
    base["FWUP_META_UUID"] = "${FWUP_META_UUID}"
    base["FWUP_META_NICKNAME"] = "${FWUP_META_NICKNAME}"
    loader = _Loader(path, dict(base), read_text, None)
    tree = loader.parse_file(path)
    if loader.size_refs:
        # FWUP_SIZE_* only exist once their file-resource is parsed: take the sizes from the
        # first pass and parse again with them defined.
        sizes = {}
        for it in tree.items:
            if isinstance(it, confuse.Section) and it.kind == "file-resource" and it.title:
                hp = it.get("host-path")
                if isinstance(hp, str) and hp:
                    size = _file_size(relative_to(it.src, hp))
                    if size is not None:
                        sizes[size_var(it.title)] = "%d" % size
        loader = _Loader(path, dict(base), read_text, sizes)
        tree = loader.parse_file(path)
    root = Sec("", "", None, path, 1)
    _Builder(root).section_body(tree.items, root)
    return Conf(root, path, loader.env)


def size_var(title):
    """Name of the FWUP_SIZE_* variable of a resource."""
    out = []
    for c in "FWUP_SIZE_" + title:
        out.append("_" if c in "-/." else c)
    return "".join(out)


def _file_size(path):
    try:
        import os

        return os.stat(path)[6]
    except (OSError, ImportError):  # portable: ok
        return None


class _Builder:
    def __init__(self, root):
        self.root = root

    def err(self, node, msg, hint=None):
        raise ConfigError("%s:%d: %s" % (getattr(node, "src", "?"), node.line, msg), hint=hint)

    def section_body(self, items, sec):
        schema = SCHEMA[sec.key]
        for it in items:
            if isinstance(it, confuse.Option):
                self.option(it, sec, schema)
            elif isinstance(it, confuse.Section):
                self.subsection(it, sec, schema)
            else:
                self.call(it, sec)

    def _entry(self, schema, name):
        for e in schema:
            if e[0] == name:
                return e
        return None

    def _allowed(self, schema):
        return ", ".join([e[0] for e in schema])

    def _where_name(self, sec):
        if not sec.kind:
            return "at the top level"
        if sec.title is None:
            return "in %s" % sec.kind
        return "in %s '%s'" % (sec.kind, sec.title)

    def option(self, opt, sec, schema):
        e = self._entry(schema, opt.name)
        if e is None or e[1] in ("sec", "one"):
            self.err(opt, "unknown option '%s' %s" % (opt.name, self._where_name(sec)),
                     hint="allowed: " + self._allowed([x for x in schema if x[1] not in ("sec", "one")]))
        name, typ, _ = e
        raw = opt.value
        if typ in ("il", "sl"):
            vals = raw if isinstance(raw, list) else [raw]
            conv = [self.convert(opt, typ[0], v) for v in vals]
            if opt.append and name in sec.values:
                sec.values[name] = sec.values[name] + conv
            else:
                sec.values[name] = conv
        else:
            if isinstance(raw, list):
                self.err(opt, "option '%s' takes one value, not a list" % name)
            sec.values[name] = self.convert(opt, typ, raw)
        if name == "require-fwup-version":
            try:
                ok = _version_le(sec.values[name], FWUP_VERSION)
            except ValueError:
                self.err(opt, "invalid version '%s' passed to require-fwup-version" % raw)
            if not ok:
                self.err(opt, "fwup version '%s' required. This is fwup version '%s'."
                         % (raw, FWUP_VERSION))

    def convert(self, opt, typ, v):
        if typ == "s":
            return v
        if typ == "i":
            try:
                return confuse.to_int(v, strict=True) if v.strip() else 0
            except ValueError:
                self.err(opt, "invalid integer value %r for option '%s'" % (v, opt.name),
                         hint="use a decimal, 0x hex or 0 octal number")
        lv = v.lower()
        if lv in ("true", "yes", "on"):
            return True
        if lv in ("false", "no", "off"):
            return False
        self.err(opt, "invalid boolean value %r for option '%s'" % (v, opt.name),
                 hint="use true or false")

    def subsection(self, node, sec, schema):
        e = self._entry(schema, node.kind)
        if e is None or e[1] not in ("sec", "one"):
            subs = [x[0] for x in schema if x[1] in ("sec", "one")]
            self.err(node, "unknown section '%s' %s" % (node.kind, self._where_name(sec)),
                     hint=("allowed sections: " + ", ".join(subs)) if subs else
                     "this section takes no sub-sections")
        key = node.kind if not sec.key else sec.key.split("/")[0] + "/" + node.kind
        if e[1] == "sec":
            if node.title is None:
                self.err(node, "section '%s' needs a title" % node.kind,
                         hint='write %s "name" { ... }' % node.kind)
            for other in sec.children.get(node.kind, ()):
                if other.title == node.title:
                    self.err(node, "duplicate %s '%s' (first at %s)"
                             % (node.kind, node.title, other.where()))
        elif node.title is not None:
            self.err(node, "section '%s' takes no title (got %r)" % (node.kind, node.title))
        if node.kind == "on-resource":
            if not any(r.title == node.title for r in self.root.sections("file-resource")):
                self.err(node, "unknown resource: %s" % node.title,
                         hint="declare file-resource %s before the task that uses it"
                         % node.title)
        child = Sec(key, node.kind, node.title, node.src, node.line)
        self.section_body(node.items, child)
        self.validate(child, node)
        if e[1] == "one":
            sec.children[node.kind] = [child]
        else:
            sec.children.setdefault(node.kind, []).append(child)

    def validate(self, sec, node):
        k = sec.key
        if k == "file-resource":
            hp = sec.values.get("host-path")
            ct = sec.values.get("contents")
            if hp is None and ct is None:
                self.err(node, "host-path or contents must be set for file-resource '%s'"
                         % sec.title)
            if hp is not None and ct is not None:
                self.err(node, "only one of host-path or contents should be set for "
                         "file-resource '%s'" % sec.title)
            _archive_path(sec)
        elif k == "uboot-environment":
            off = sec.values.get("block-offset")
            if off is None or not _is_uint(off):
                self.err(node, "uboot-environment '%s': block-offset must be specified "
                         "as a non-negative number" % sec.title)
            count = sec.get("block-count")
            if count <= 0 or count >= 0xFFFF:
                self.err(node, "uboot-environment '%s': block-count must be specified, "
                         "greater than 0 and less than 2^16 - 1" % sec.title)
            red = sec.values.get("block-offset-redund")
            if red is not None:
                if not _is_uint(red):
                    self.err(node, "uboot-environment '%s': bad block-offset-redund %r"
                             % (sec.title, red))
                o = confuse.to_int(off)
                r = confuse.to_int(red)
                if (o <= r < o + count) or (o < r + count < o + count):
                    self.err(node, "block-offset-redund can't overlap primary U-Boot "
                             "environment")
        elif k == "mbr":
            self.validate_mbr(sec, node)

    def validate_mbr(self, sec, node):
        hp = sec.values.get("bootstrap-code-host-path")
        if hp is not None and sec.values.get("bootstrap-code") is None:
            path = relative_to(sec.src, hp)
            try:
                with open(path, "rb") as f:
                    code = f.read(440)
            except OSError:
                self.err(node, "mbr bootstrap code path '%s' required, but can't be read" % hp)
            if len(code) != 440:
                self.err(node, "mbr bootstrap code in '%s' should be 440 bytes" % hp)
            sec.values["bootstrap-code"] = "".join(["%02x" % b for b in code])
        bc = sec.values.get("bootstrap-code")
        if bc is not None and len(bc) != 880:
            self.err(node, "bootstrap-code should be exactly 440 bytes (880 hex characters)")
        for p in sec.sections("partition"):
            try:
                ix = confuse.to_int(p.title, strict=True)
            except ValueError:
                ix = -1
            if not 0 <= ix <= 7:
                self.err(p, "mbr '%s': partition must be numbered 0 through 7, got %r"
                         % (sec.title, p.title))
            t = p.get("type")
            if not 0 <= t <= 255:
                self.err(p, "partition %d's type must be between 0 and 255" % ix)
            off = p.values.get("block-offset")
            if off is None:
                self.err(p, "partition %d's block_offset is required" % ix)
            if not _is_uint(off) or confuse.to_int(off) >= 0xFFFFFFFF:
                self.err(p, "partition %d's block_offset must be positive and less than "
                         "2^32 - 1: '%s'" % (ix, off))

    def call(self, call, sec):
        if sec.key == "task":
            spec = REQUIREMENTS.get(call.name)
            if spec is None:
                self.err(call, "unknown requirement '%s' in task '%s'" % (call.name, sec.title),
                         hint="known: " + ", ".join(sorted(REQUIREMENTS)))
            argv = [call.name] + list(call.args)
            if len(argv) != spec[0]:
                self.err(call, "%s requires %d arguments, got %d"
                         % (call.name, spec[0] - 1, len(argv) - 1))
            self.check_args(call, argv, spec[1])
            sec.values.setdefault("reqlist", [])
            sec.values["reqlist"] = sec.values["reqlist"] + ["%d" % len(argv)] + argv
            return
        if sec.key.startswith("task/"):
            spec = ACTIONS.get(call.name)
            if spec is None:
                self.err(call, "unknown function '%s'" % call.name,
                         hint="known: " + ", ".join(sorted(ACTIONS)))
            argcs, resource_only, kinds = spec
            argv = [call.name] + list(call.args)
            if resource_only and sec.kind != "on-resource":
                self.err(call, "%s only usable in on-resource" % call.name)
            if argcs is None:
                if len(argv) < 2:
                    self.err(call, "%s requires a block offset" % call.name)
            elif len(argv) not in argcs:
                self.err(call, "%s requires %s arguments, got %d"
                         % (call.name, " or ".join(["%d" % (a - 1) for a in argcs]),
                            len(argv) - 1))
            if call.name == "fat_write" and len(argv) == 2:
                argv.append(sec.title)
            if call.name == "fat_cp" and len(argv) == 5:
                kinds = {1: _U, 3: _U}
            self.check_args(call, argv, kinds)
            if call.name == "raw_memset":
                v = confuse.to_int(argv[3])
                if not 0 <= v <= 255:
                    self.err(call, "raw_memset requires value to be between 0 and 255, got %r"
                             % argv[3])
            if call.name == "fat_attrib":
                for c in argv[3]:
                    if c not in "RHSrhs":
                        self.err(call, "fat_attrib only supports R, H, and S attributes, got %r"
                                 % argv[3])
            sec.values.setdefault("funlist", [])
            sec.values["funlist"] = sec.values["funlist"] + ["%d" % len(argv)] + argv
            return
        self.err(call, "function %s() is not allowed %s" % (call.name, self._where_name(sec)),
                 hint="actions go inside on-init/on-finish/on-error/on-resource of a task")

    def check_args(self, call, argv, kinds):
        for ix in kinds:
            kind = kinds[ix]
            if ix >= len(argv):
                continue
            a = argv[ix]
            if kind == _U and not _is_uint(a):
                self.err(call, "%s requires a non-negative integer as argument %d, got %r"
                         % (argv[0], ix, a))
            elif kind == _POS and (not _is_uint(a) or confuse.to_int(a) < 1):
                self.err(call, "%s requires a positive integer block count, got %r"
                         % (argv[0], a))
            elif kind == "part" and (not _is_uint(a) or confuse.to_int(a) > 3):
                self.err(call, "%s requires the partition number to be 0-3, got %r"
                         % (argv[0], a))
            elif kind in (_ENV, _MBR, _GPT):
                sect = {"env": "uboot-environment", "mbr": "mbr", "gpt": "gpt"}[kind]
                if not any(s.title == a for s in self.root.sections(sect)):
                    self.err(call, "%s can't find %s reference '%s'" % (argv[0], sect, a),
                             hint="declare %s %s { ... } above this line" % (sect, a))


def _archive_path(sec):
    """Archive entry name of a file-resource (spec 1.1); ConfigError for bad names."""
    name = sec.title

    def bad(msg):
        raise ConfigError("%s: %s" % (sec.where(), msg))

    if not name:
        bad("resource name can't be empty")
    if len(name) + 6 > 512:
        bad("resource name '%s' is too long" % name)
    if name.endswith("/"):
        bad("resource name '%s' can't end in a '/'" % name)
    if name.startswith("/"):
        if name == "/":
            bad("resource name can't be the root directory")
        if name == "/meta.conf":
            bad("resources can't be named /meta.conf")
        if name == "/data" or name.startswith("/data/"):
            bad("use a normal resource name rather than specifying /data")
        return name[1:]
    return "data/" + name


archive_path = _archive_path
