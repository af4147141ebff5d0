# heapsize: 512K
"""repl: keystrokes in, terminal text out; state, multi-line input, tracebacks, editing."""

from nerves_hub_link.repl import PS1, PS2, Repl, needs_more


def _session(*inputs):
    out = []
    r = Repl(out.append)
    r.start()
    for i in inputs:
        r.feed(i)
    return r, "".join(out)


def test_needs_more_rules():
    assert not needs_more("1 + 1")
    assert not needs_more("x = 1")
    assert needs_more("if x:")
    assert needs_more("def f():\n    return 1")
    assert not needs_more("def f():\n    return 1\n")
    assert needs_more("@decorator")
    assert needs_more("(1,")
    assert not needs_more("(1,\n2)")
    assert needs_more("x = [1,\n 2,")
    assert needs_more("s = '''abc")
    assert not needs_more("s = '''abc\ndef'''")
    assert needs_more("x = 1 + \\")
    assert not needs_more("x = ')'  # (")
    assert not needs_more("if x: y = 1")
    assert not needs_more("d = {'a:': 1}")


def test_expression_statement_and_state():
    r, out = _session("x = 41\r", "x + 1\r", "_ * 2\r")
    assert out == (PS1 + "x = 41\r\n" + PS1 + "x + 1\r\n42\r\n" + PS1 + "_ * 2\r\n84\r\n" + PS1)
    assert r.namespace["x"] == 41


def test_none_is_not_shown_and_print_goes_to_the_console():
    _, out = _session("None\r", "print('a', 1, sep='-')\r", "print('b', end='')\r")
    assert out == (PS1 + "None\r\n" + PS1 + "print('a', 1, sep='-')\r\na-1\r\n" + PS1
                   + "print('b', end='')\r\nb" + PS1)


def test_multi_line_block_runs_after_an_empty_line():
    _, out = _session("def f(a):\r", "    return a * 3\r", "\r", "f(2)\r")
    assert (PS1 + "def f(a):\r\n" + PS2 + "    return a * 3\r\n" + PS2 + "\r\n" + PS1
            + "f(2)\r\n6\r\n") in out


def test_open_bracket_continues():
    _, out = _session("(1,\r", "2)\r")
    assert out.endswith(PS2 + "2)\r\n(1, 2)\r\n" + PS1)


def test_traceback_shows_console_frames_only():
    _, out = _session("def g():\r", "    return 1 // 0\r", "\r", "g()\r")
    tb = out.split("g()\r\n", 1)[1]
    assert tb.startswith("Traceback (most recent call last):\r\n")
    assert '  File "<console>", line 1, in <module>\r\n' in tb
    assert '  File "<console>", line 2, in g\r\n' in tb
    assert "ZeroDivisionError" in tb
    assert "repl.py" not in tb
    assert tb.endswith(PS1)


def test_syntax_error_is_reported_and_session_continues():
    r, out = _session("a b\r", "7\r")
    assert "SyntaxError" in out
    assert out.endswith("7\r\n7\r\n" + PS1)


def test_exception_keeps_state():
    r, out = _session("y = 5\r", "y / 0\r", "y\r")
    assert "ZeroDivisionError" in out
    assert out.endswith("y\r\n5\r\n" + PS1)


def test_backspace_ctrl_c_and_escape_sequences():
    # "12" typed, backspace, "3" -> 13; arrow keys are swallowed
    _, out = _session("12\x7f3\x1b[C\x1b[D\r")
    assert "\b \b" in out
    assert out.endswith("13\r\n" + PS1)
    _, out = _session("if True:\r", "\x03", "5\r")
    assert "^C\r\nKeyboardInterrupt\r\n" + PS1 in out
    assert out.endswith("5\r\n5\r\n" + PS1)


def test_crlf_is_one_enter_and_history_recalls():
    r, out = _session("1+2\r\n", "\x1b[A\r")
    assert out.count("\r\n3\r\n") == 2
    assert r.history == ["1+2"]


def test_input_is_refused_and_system_exit_stops():
    r, out = _session("input()\r")
    assert "input() is not available" in out
    assert not r.stopped
    r, out = _session("raise SystemExit\r")
    assert r.stopped
    assert "SystemExit" in out


def test_namespace_survives_between_feeds_and_repls_share_nothing():
    a, _ = _session("z = [1]\r")
    b, out = _session("z\r")
    assert "NameError" in out
    assert a.namespace["z"] == [1]


def test_long_line_is_capped():
    from nerves_hub_link import repl

    r, out = _session("1" * (repl.MAX_LINE + 10))
    assert len(r.line) == repl.MAX_LINE
    assert out.endswith("\x07")
