"""libconfuse-syntax lexer and parser (fwup.conf and meta.conf) producing a generic tree.

API::

    root = parse(text, env=None, expand=None, on_call=None, name="meta.conf")

``text`` is ``str`` (or UTF-8 ``bytes``). The result is a ``Section`` (kind ``""``, no
title) whose ``items`` list keeps source order and holds three node types:

* ``Option(name, value, line, append=False)``: ``key = value`` (``value`` is a ``str``)
  or ``key = {a, b}`` (``value`` is a ``list`` of ``str``; ``{}`` is ``[]``);
  ``key += value`` sets ``append``. Numbers stay strings: convert with ``to_int``.
* ``Section(kind, title, items, line)``: ``kind { ... }`` or ``kind title { ... }``
  (``title`` is ``None`` when absent).
* ``Call(name, args, line)``: ``name(a, b)`` (``args`` is a list of ``str``).

Lexing follows libconfuse: ``#``, ``//`` and ``/* */`` comments; double-quoted strings with
escapes ``\\n \\r \\t \\b \\f \\a \\e \\v``, octal ``\\ooo``, hex ``\\xHH``, backslash-newline and
``\\X`` -> ``X``; ``${NAME}`` / ``${NAME:-default}`` expansion inside double quotes and as a
bare token; single-quoted strings (only ``\\\\`` and ``\\'`` escapes, no expansion); bare
words of any character except whitespace and ``# " ' = { } ( ) + , *``.

Hooks (both optional):

* ``expand(name, default) -> str``: value of ``${name}`` (``default`` is ``None`` unless
  ``${name:-default}`` was written). Without it, ``env`` (a dict, default empty) is used and
  a missing name expands to ``default`` or ``""``.
* ``on_call(call, depth) -> None | list``: called for every function call as soon as it is
  parsed, before the lexer reads on (so a ``define(...)`` can change what later ``${...}``
  expand to). Returning a list splices those nodes in place of the call (``include``);
  returning ``None`` keeps the call in the tree.

Syntax errors raise ``ConfigError`` with the line number. Largest buffer: the text itself
plus the tree (meta.conf is capped at 50 kB by the caller).
"""

from nerves_hub_link.errors import ConfigError
from nerves_hub_link.fwup.num import _HEX, _digit, to_int  # noqa: F401 (part of this API)

MAX_DEPTH = 8  # fwup's schemas nest 3 deep (task / on-resource / funlist)
_PUNCT = "{}(),="
_NOT_BARE = " \t\r\n#\"'={}()+,*"
_ESC = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "a": "\a", "e": "\x1b",
        "v": "\v"}

# Token kinds
T_STR = 1
T_PUNCT = 2
T_EOF = 3


class Option:
    """``name = value`` (``value`` is a str, or a list for ``{...}``)."""

    def __init__(self, name, value, line=0, append=False):
        self.name = name
        self.value = value
        self.line = line
        self.append = append

    def __eq__(self, other):
        return (isinstance(other, Option) and self.name == other.name
                and self.value == other.value and self.append == other.append)

    def __repr__(self):
        return "Option(%r, %r)" % (self.name, self.value)


class Call:
    """``name(arg, ...)``."""

    def __init__(self, name, args, line=0):
        self.name = name
        self.args = args
        self.line = line

    def __eq__(self, other):
        return isinstance(other, Call) and self.name == other.name and self.args == other.args

    def __repr__(self):
        return "Call(%r, %r)" % (self.name, self.args)


class Section:
    """``kind [title] { items }``; the parse root has kind ``""``."""

    def __init__(self, kind, title=None, items=None, line=0):
        self.kind = kind
        self.title = title
        self.items = items if items is not None else []
        self.line = line

    def options(self):
        """Dict name -> value of the direct options (the last assignment wins; ``+=`` appends)."""
        d = {}
        for it in self.items:
            if isinstance(it, Option):
                if it.append and it.name in d:
                    old = d[it.name]
                    old = old if isinstance(old, list) else [old]
                    new = it.value if isinstance(it.value, list) else [it.value]
                    d[it.name] = old + new
                else:
                    d[it.name] = it.value
        return d

    def get(self, name, default=None):
        return self.options().get(name, default)

    def sections(self, kind=None):
        """Direct sub-sections, in order (only those of ``kind`` if given)."""
        return [it for it in self.items
                if isinstance(it, Section) and (kind is None or it.kind == kind)]

    def calls(self):
        return [it for it in self.items if isinstance(it, Call)]

    def __eq__(self, other):
        return (isinstance(other, Section) and self.kind == other.kind
                and self.title == other.title and self.items == other.items)

    def __repr__(self):
        return "Section(%r, %r, %r)" % (self.kind, self.title, self.items)


class _Lexer:
    def __init__(self, text, name, expand):
        self.s = text
        self.i = 0
        self.line = 1
        self.name = name
        self.expand = expand

    def error(self, msg, line=None):
        raise ConfigError("%s:%d: %s" % (self.name, line or self.line, msg))

    def _skip(self):
        s = self.s
        n = len(s)
        while self.i < n:
            c = s[self.i]
            if c == "\n":
                self.line += 1
                self.i += 1
            elif c in " \t\r\f\v":
                self.i += 1
            elif c == "#" or (c == "/" and s[self.i + 1:self.i + 2] == "/"):
                j = s.find("\n", self.i)
                self.i = n if j < 0 else j
            elif c == "/" and s[self.i + 1:self.i + 2] == "*":
                j = s.find("*/", self.i + 2)
                if j < 0:
                    self.error("unterminated comment")
                self.line += s.count("\n", self.i, j)
                self.i = j + 2
            else:
                return

    def next(self):
        """Return (kind, value, line)."""
        self._skip()
        s = self.s
        if self.i >= len(s):
            return T_EOF, None, self.line
        c = s[self.i]
        line = self.line
        if c == "+":
            if s[self.i + 1:self.i + 2] == "=":
                self.i += 2
                return T_PUNCT, "+=", line
            self.error("unexpected '+'")
        if c in _PUNCT:
            self.i += 1
            return T_PUNCT, c, line
        if c == '"':
            return T_STR, self._dquote(), line
        if c == "'":
            return T_STR, self._squote(), line
        if c == "$" and s[self.i + 1:self.i + 2] == "{":
            j = s.find("}", self.i + 2)
            if j < 0:
                self.error("unterminated ${")
            v = self._var(s[self.i + 2:j])
            self.i = j + 1
            return T_STR, v, line
        if c == "*":
            self.error("unexpected '*'")
        j = self.i
        n = len(s)
        while j < n and s[j] not in _NOT_BARE:
            if s[j] == "/" and s[j + 1:j + 2] in ("/", "*"):
                break
            j += 1
        v = s[self.i:j]
        self.i = j
        return T_STR, v, line

    def _var(self, body):
        k = body.find(":-")
        if k >= 0:
            name, default = body[:k], body[k + 2:]
        else:
            name, default = body, None
        v = self.expand(name, default)
        return "" if v is None else v

    def _dquote(self):
        s = self.s
        n = len(s)
        i = self.i + 1
        out = []
        start = i
        while True:
            if i >= n:
                self.error("unterminated string")
            c = s[i]
            if c == '"':
                out.append(s[start:i])
                self.i = i + 1
                return "".join(out)
            if c == "\n":
                self.line += 1
                i += 1
            elif c == "\\":
                out.append(s[start:i])
                i = self._escape(i + 1, out)
                start = i
            elif c == "$" and s[i + 1:i + 2] == "{":
                j = s.find("}", i + 2)
                if j < 0:
                    self.error("unterminated ${")
                out.append(s[start:i])
                out.append(self._var(s[i + 2:j]))
                i = start = j + 1
            else:
                i += 1

    def _escape(self, i, out):
        s = self.s
        if i >= len(s):
            self.error("unterminated string")
        c = s[i]
        if c in _ESC:
            out.append(_ESC[c])
            return i + 1
        if c == "\n":
            self.line += 1
            return i + 1
        if "0" <= c <= "7":
            j = i
            v = 0
            while j < i + 3 and j < len(s) and "0" <= s[j] <= "7":
                v = v * 8 + ord(s[j]) - 48
                j += 1
            out.append(chr(v & 0xFF))
            return j
        if c == "x" and i + 1 < len(s) and s[i + 1] in _HEX:
            j = i + 1
            v = 0
            while j < i + 3 and j < len(s) and s[j] in _HEX:
                v = v * 16 + _digit(s[j])
                j += 1
            out.append(chr(v))
            return j
        out.append(c)
        return i + 1

    def _squote(self):
        s = self.s
        n = len(s)
        i = self.i + 1
        out = []
        while True:
            if i >= n:
                self.error("unterminated string")
            c = s[i]
            if c == "'":
                self.i = i + 1
                return "".join(out)
            if c == "\\" and s[i + 1:i + 2] in ("\\", "'"):
                out.append(s[i + 1])
                i += 2
                continue
            if c == "\n":
                self.line += 1
            out.append(c)
            i += 1


class _Parser:
    def __init__(self, lexer, on_call):
        self.lx = lexer
        self.on_call = on_call
        self.peeked = None

    def tok(self):
        if self.peeked is not None:
            t = self.peeked
            self.peeked = None
            return t
        return self.lx.next()

    def peek(self):
        if self.peeked is None:
            self.peeked = self.lx.next()
        return self.peeked

    def expect(self, punct):
        k, v, line = self.tok()
        if k != T_PUNCT or v != punct:
            self.lx.error("expected '%s', got %r" % (punct, v), line)

    def body(self, closing, depth):
        if depth > MAX_DEPTH:  # recursion would overflow the stack first (RecursionError)
            self.lx.error("sections nested deeper than %d" % MAX_DEPTH)
        items = []
        while True:
            k, v, line = self.tok()
            if k == T_EOF:
                if closing:
                    self.lx.error("missing '}' at end of input", line)
                return items
            if k == T_PUNCT:
                if v == "}" and closing:
                    return items
                if v == ",":
                    continue
                self.lx.error("unexpected %r" % v, line)
            self.statement(v, line, items, depth)

    def statement(self, name, line, items, depth):
        k, v, l2 = self.tok()
        if k == T_PUNCT and v in ("=", "+="):
            items.append(Option(name, self.value(), line, v == "+="))
        elif k == T_PUNCT and v == "{":
            items.append(Section(name, None, self.body(True, depth + 1), line))
        elif k == T_PUNCT and v == "(":
            call = Call(name, self.args(), line)
            repl = self.on_call(call, depth) if self.on_call else None
            if repl is None:
                items.append(call)
            else:
                items.extend(repl)
        elif k == T_STR:
            self.expect("{")
            items.append(Section(name, v, self.body(True, depth + 1), line))
        else:
            self.lx.error("unexpected %r after %r" % (v, name), l2)

    def value(self):
        k, v, line = self.tok()
        if k == T_STR:
            return v
        if k == T_PUNCT and v == "{":
            out = []
            if self.peek()[:2] == (T_PUNCT, "}"):
                self.tok()
                return out
            while True:
                k, v, line = self.tok()
                if k != T_STR:
                    self.lx.error("expected a list value, got %r" % v, line)
                out.append(v)
                k, v, line = self.tok()
                if k == T_PUNCT and v == "}":
                    return out
                if k != T_PUNCT or v != ",":
                    self.lx.error("expected ',' or '}' in list, got %r" % v, line)
        self.lx.error("expected a value, got %r" % v, line)

    def args(self):
        out = []
        if self.peek()[:2] == (T_PUNCT, ")"):
            self.tok()
            return out
        while True:
            k, v, line = self.tok()
            if k != T_STR:
                self.lx.error("expected a function argument, got %r" % v, line)
            out.append(v)
            k, v, line = self.tok()
            if k == T_PUNCT and v == ")":
                return out
            if k != T_PUNCT or v != ",":
                self.lx.error("expected ',' or ')' in arguments, got %r" % v, line)


def parse(text, env=None, expand=None, on_call=None, name="meta.conf"):
    """Parse libconfuse text into a root ``Section``; see the module docstring."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = str(bytes(text), "utf-8")
        except UnicodeError:
            raise ConfigError("%s: not valid UTF-8" % name)
    if expand is None:
        vars_ = env if env is not None else {}

        def expand(n, default):
            v = vars_.get(n)
            return default if v is None else v

    p = _Parser(_Lexer(text, name, expand), on_call)
    return Section("", None, p.body(False, 0), 1)
