# heapsize: 256K
from nerves_hub_link.errors import ConfigError
from nerves_hub_link.fwup.confuse import Call, Option, Section, parse, to_int
from support import fixture, raises, read


def test_options_sections_titles():
    root = parse('a=1\nb = "x y"\nsec "T 1" {\n c={1,"2",x}\n}\nplain { d=\'q\' }\n')
    assert root.items[0] == Option("a", "1")
    assert root.items[1] == Option("b", "x y")
    s = root.sections("sec")[0]
    assert s.title == "T 1"
    assert s.get("c") == ["1", "2", "x"]
    assert root.sections("plain")[0].title is None
    assert root.sections("plain")[0].get("d") == "q"


def test_calls_and_funlist():
    root = parse('on-init { raw_write(0) info("a, b") f() }\nfunlist = {"2", "raw_write", "16"}')
    sec = root.sections("on-init")[0]
    assert sec.items == [Call("raw_write", ["0"]), Call("info", ["a, b"]), Call("f", [])]
    assert root.get("funlist") == ["2", "raw_write", "16"]


def test_escapes_and_comments():
    text = ('# c1\nx = "a\\"b\\\\c\\n\\x41\\101\\$\\q" // c2\n/* multi\nline */ y = \'s\\\'\\n\'\n'
            'z = "line\\\ncont"\n')
    o = parse(text).options()
    assert o["x"] == 'a"b\\c\nAA$q'
    assert o["y"] == "s'\\n"
    assert o["z"] == "linecont"


def test_expansion():
    env = {"V": "val", "E": ""}
    o = parse('a="x${V}y"\nb=${V}\nc="${NOPE}"\nd="${NOPE:-dflt}"\ne=\'${V}\'\nf="\\${V}"',
              env=env).options()
    assert o == {"a": "xvaly", "b": "val", "c": "", "d": "dflt", "e": "${V}", "f": "${V}"}


def test_expand_hook_and_on_call():
    seen = {}

    def on_call(call, depth):
        if call.name == "define":
            seen[call.args[0]] = call.args[1]
            return []
        if call.name == "include":
            return [Option("inc", call.args[0])]
        return None

    root = parse('define(X, 5)\na="${X}"\ninclude(f)\n', expand=lambda n, d: seen.get(n, d),
                 on_call=on_call)
    assert root.items == [Option("a", "5"), Option("inc", "f")]


def test_append_and_empty_list():
    root = parse("a = {}\nb = 1\nb += {2, 3}\n")
    assert root.options() == {"a": [], "b": ["1", "2", "3"]}


def test_syntax_errors_name_the_line():
    e = raises(ConfigError, parse, "a = 1\nb = \n")
    assert ":3:" in str(e) or ":2:" in str(e)
    raises(ConfigError, parse, 'x = "open')
    raises(ConfigError, parse, "sec {")
    raises(ConfigError, parse, "a = {1 2}")
    raises(ConfigError, parse, "f(1")
    raises(ConfigError, parse, "}")
    raises(ConfigError, parse, "/* never closed")


def test_fixture_meta_conf_f07():
    root = parse(read(fixture("fwup", "F07_multi_resource", "meta.conf")))
    o = root.options()
    assert o["meta-product"] == 'Fixture "07"'
    assert o["meta-description"] == "Multi-resource; backslash \\ and unicode \u00e9"
    res = root.sections("file-resource")
    assert [r.title for r in res][:3] == ["first.bin", "unused.bin", "/extra/notes.txt"]
    assert res[5].get("length") == ["4096", "61440", "4096", "130368"]
    assert isinstance(root.sections("task")[0], Section)


def test_to_int_like_strtoul():
    assert to_int("0x1f") == 31
    assert to_int("010") == 8
    assert to_int("12ab") == 12
    assert to_int("") == 0
    assert to_int("  42") == 42
    assert to_int("9") == 9
    raises(ValueError, to_int, "12ab", True)
    raises(ValueError, to_int, "", True)
    assert to_int("0", True) == 0
