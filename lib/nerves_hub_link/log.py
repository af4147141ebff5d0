"""Tiny logger: one line per event, ``nhl: <state>[: detail]`` for state changes.

State lines are meant to be read by people and by tests (``nhl: joined: device``).
Other lines carry a level: ``nhl: [warning] ...``. ``set_sink(fn)`` redirects every line
(``fn(line)``); ``set_level`` drops lines below a level. Messages are formatted only when
they will be written.
"""

import sys

DEBUG = 10
INFO = 20
WARNING = 30
ERROR = 40

_NAMES = {DEBUG: "debug", INFO: "info", WARNING: "warning", ERROR: "error"}
_level = INFO
_sink = None


def _write(line):
    if _sink is not None:
        _sink(line)
        return
    out = sys.stdout
    out.write(line + "\n")
    flush = getattr(out, "flush", None)
    if flush:
        flush()


def set_sink(fn):
    """Send every line to ``fn(line)``; ``None`` restores stdout. Returns the old sink."""
    global _sink
    old = _sink
    _sink = fn
    return old


def set_level(level):
    """Drop lines below ``level`` (DEBUG, INFO, WARNING, ERROR)."""
    global _level
    _level = level


def state(name, detail=None):
    """A state change: ``nhl: connecting: wss://host:443/socket/websocket``."""
    if detail is None or detail == "":
        _write("nhl: %s" % name)
    else:
        _write("nhl: %s: %s" % (name, detail))


def log(level, fmt, *args):
    """``nhl: [level] fmt % args`` when ``level`` passes the filter."""
    if level < _level:
        return
    msg = fmt % args if args else fmt
    _write("nhl: [%s] %s" % (_NAMES.get(level, str(level)), msg))


def debug(fmt, *args):
    log(DEBUG, fmt, *args)


def info(fmt, *args):
    log(INFO, fmt, *args)


def warning(fmt, *args):
    log(WARNING, fmt, *args)


def error(fmt, *args):
    log(ERROR, fmt, *args)


def exception(where, e):
    """Log an exception caught at a boundary (callback, handler) with its type."""
    log(ERROR, "%s raised %s: %s", where, type(e).__name__, e)
