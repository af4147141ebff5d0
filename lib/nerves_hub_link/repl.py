"""A Python REPL driven by terminal keystrokes, for the remote console (CPython, MicroPython).

``Repl(write)``: ``start()`` writes a banner and the prompt; ``feed(text)`` takes keystrokes
as a terminal sends them and echoes them (``\\r`` enter, DEL/BS erase, Ctrl-C cancels the
input, Ctrl-U clears the line, up/down recall history, other escape sequences are ignored).
Complete input is compiled as an expression (its ``repr`` is shown and kept in ``_``) or as
statements, and run in ``namespace``, which persists until the Repl is dropped. ``print``
inside the namespace writes to the console (MicroPython cannot reassign ``sys.stdout``;
CPython's is also swapped while code runs). Tracebacks are shown as text. All output goes
to ``write(str)`` with ``\\r\\n`` line ends.

Incomplete input is detected by ``needs_more(source)`` with the rules of MicroPython's own
REPL (open brackets, an open triple-quoted string, a trailing backslash, a compound
statement not yet ended by an empty line), because MicroPython's ``compile`` reports every
incomplete input as a plain "invalid syntax".

Code runs on the caller's thread: a long computation blocks the device until it ends.

Largest buffers: the line being typed (``MAX_LINE`` characters), the pending block
(``MAX_SOURCE``), ``HISTORY`` recalled lines.
"""

import sys

PS1 = ">>> "
PS2 = "... "
MAX_LINE = 1024
MAX_SOURCE = 16384
HISTORY = 20
CONSOLE_FILE = "<console>"



def needs_more(source):
    """True when *source* is an incomplete statement (more lines are needed)."""
    depth = 0
    quote = None  # the open string's delimiter
    i = 0
    n = len(source)
    while i < n:
        c = source[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if source.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
            if c == "\n" and len(quote) == 1:
                quote = None  # an unterminated one-line string: let compile report it
        elif c == "#":
            while i < n and source[i] != "\n":
                i += 1
            continue
        elif c in "'\"":
            quote = source[i:i + 3] if source[i:i + 3] in ("'''", '"""') else c
            i += len(quote)
            continue
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        i += 1
    if (quote and len(quote) == 3) or depth > 0:
        return True
    lines = source.split("\n")
    last = lines[-1]
    if last.endswith("\\"):
        return True
    block = lines[0].lstrip().startswith("@") or _ends_with_colon(lines[0])
    if not block or len(lines) == 1:
        return block
    return last.strip() != ""  # a block ends with an empty line


def _ends_with_colon(line):
    if "#" in line and "'" not in line and '"' not in line:
        line = line.split("#", 1)[0]
    return line.rstrip().endswith(":")


def _format_exception(e):
    """The traceback of *e* as text, without the REPL's own frames."""
    try:
        import traceback  # portable: ok (CPython)
    except ImportError:
        traceback = None
    if traceback is not None:
        if isinstance(e, SyntaxError):
            text = "".join(traceback.format_exception_only(type(e), e))
        else:
            text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    else:
        import io

        buf = io.StringIO()
        sys.print_exception(e, buf)
        text = buf.getvalue()
    return _drop_outer_frames(text)


def _drop_outer_frames(text):
    lines = text.split("\n")
    if not lines[0].startswith("Traceback"):
        return text
    marker = '  File "%s"' % CONSOLE_FILE
    for i in range(1, len(lines)):
        if lines[i].startswith(marker):
            return "\n".join([lines[0]] + lines[i:])
        if not lines[i].startswith(" "):
            break
    return text


class Repl:
    """See the module docstring. ``namespace`` (a dict) is kept across inputs."""

    def __init__(self, write, namespace=None, banner=None):
        self._write = write
        self.namespace = namespace if namespace is not None else {}
        self.banner = banner
        self.line = ""
        self.source = []  # lines of an unfinished block
        self.history = []
        self._hist_pos = 0
        self._esc = None  # collected escape sequence, or None
        self._last_cr = False
        self.stopped = False
        self._install()

    # ---- namespace ----------------------------------------------------------------------

    def _install(self):
        ns = self.namespace
        ns.setdefault("__name__", "__console__")
        out = self.out

        def _print(*args, sep=" ", end="\n", file=None, flush=False):
            if file is not None and file is not sys.stdout:
                print(*args, sep=sep, end=end, file=file)
                return
            out((" " if sep is None else sep).join([str(a) for a in args])
                + ("\n" if end is None else end))

        def _input(prompt=""):
            raise RuntimeError("input() is not available in the remote console")

        ns["print"] = _print
        ns["input"] = _input

    # ---- output -------------------------------------------------------------------------

    def out(self, text):
        """Write program output (``\\n`` becomes ``\\r\\n``)."""
        if text:
            self._write(text.replace("\r\n", "\n").replace("\n", "\r\n"))

    def prompt(self):
        return PS2 if self.source else PS1

    def start(self):
        if self.banner:
            self.out(self.banner + "\n")
        self._write(self.prompt())

    # ---- keystrokes ---------------------------------------------------------------------

    def feed(self, text):
        """Process keystrokes; returns nothing (output goes to ``write``)."""
        for c in text:
            if self.stopped:
                return
            self._key(c)

    def _key(self, c):
        if self._esc is not None:
            self._esc += c
            if len(self._esc) == 2 and c != "[" and c != "O":
                self._esc = None
            elif len(self._esc) > 2 and ("@" <= c <= "~") or len(self._esc) > 16:
                seq, self._esc = self._esc, None
                if seq in ("\x1b[A", "\x1bOA"):
                    self._recall(-1)
                elif seq in ("\x1b[B", "\x1bOB"):
                    self._recall(1)
            return
        was_cr, self._last_cr = self._last_cr, c == "\r"
        if c == "\n" and was_cr:
            return
        if c == "\r" or c == "\n":
            self._write("\r\n")
            line, self.line = self.line, ""
            self._enter(line)
        elif c == "\x7f" or c == "\b":
            if self.line:
                self.line = self.line[:-1]
                self._write("\b \b")
        elif c == "\x03":
            self.line = ""
            self.source = []
            self._write("^C\r\nKeyboardInterrupt\r\n" + self.prompt())
        elif c == "\x15":
            self._replace_line("")
        elif c == "\x1b":
            self._esc = c
        elif c == "\t":
            self._insert("    ")
        elif c >= " ":
            self._insert(c)

    def _insert(self, s):
        if len(self.line) + len(s) > MAX_LINE:
            self._write("\x07")
            return
        self.line += s
        self._write(s)

    def _replace_line(self, new):
        self._write("\b \b" * len(self.line) + new)
        self.line = new

    def _recall(self, step):
        if not self.history:
            return
        pos = self._hist_pos + step
        if pos < 0:
            pos = 0
        if pos >= len(self.history):
            self._hist_pos = len(self.history)
            self._replace_line("")
            return
        self._hist_pos = pos
        self._replace_line(self.history[pos])

    def _enter(self, line):
        if line.strip():
            if not self.history or self.history[-1] != line:
                self.history.append(line)
                if len(self.history) > HISTORY:
                    self.history.pop(0)
        self._hist_pos = len(self.history)
        self.source.append(line)
        src = "\n".join(self.source)
        if len(src) > MAX_SOURCE:
            self.source = []
            self.out("input too long (over %d characters): discarded\n" % MAX_SOURCE)
        elif not src.strip():
            self.source = []
        elif not needs_more(src):
            self.source = []
            self.run(src)
        if not self.stopped:
            self._write(self.prompt())

    # ---- evaluation ---------------------------------------------------------------------

    def run(self, src):
        """Compile and run one complete input; shows the value or the traceback."""
        try:
            try:
                code = compile(src, CONSOLE_FILE, "eval")
                is_expr = True
            except SyntaxError:
                code = compile(src + "\n", CONSOLE_FILE, "exec")
                is_expr = False
        except SyntaxError as e:
            self.out(_format_exception(e))
            return
        saved = self._swap_stdout()
        try:
            if is_expr:
                value = eval(code, self.namespace)
                if value is not None:
                    self.namespace["_"] = value
                    self.out(repr(value) + "\n")
            else:
                exec(code, self.namespace)
        except SystemExit:
            self.out("SystemExit: the console session ends\n")
            self.stopped = True
        except Exception as e:  # the user's code: show it, keep the session
            self.out(_format_exception(e))
        finally:
            self._restore_stdout(saved)

    def _swap_stdout(self):
        writer = _Writer(self.out)
        old = sys.stdout
        try:
            sys.stdout = writer
        except (AttributeError, TypeError):  # MicroPython: sys.stdout is read-only
            return None
        return old

    def _restore_stdout(self, saved):
        if saved is not None:
            sys.stdout = saved


class _Writer:
    def __init__(self, out):
        self.write_text = out

    def write(self, s):
        self.write_text(s if isinstance(s, str) else bytes(s).decode())
        return len(s)

    def flush(self):
        pass
