# heapsize: 2M
# fwup.conf parsing, meta.conf printing, ZIP layout and key files: the portable parts of
# the creator (no deflate compressor needed).
import binascii
import io

from nerves_hub_link.errors import ConfigError, CryptoError, FwupError
from nerves_hub_link.fwup import fwupconf, keygen, writer
from support import IS_MICROPYTHON, fixture, raises, read


def _texts(files):
    def read_text(path):
        if path not in files:
            raise ConfigError("can't read %s" % path)
        return files[path]

    return read_text


def _load(text, env=None, files=None):
    files = dict(files or {})
    files["cfg/fwup.conf"] = text
    return fwupconf.load("cfg/fwup.conf", env or {}, read_text=_texts(files))


def _fill(conf, name, length, digest):
    for r in conf.resources:
        if r.title == name:
            r.values["length"] = length
            r.values["blake2b-256"] = digest


def test_f02_meta_conf_printer():
    # F02 exercises define(), ${VAR}, mbr sections, requirements and schema order.
    conf = fwupconf.load(fixture("fwup", "F02_ab_upgrade_partition_offset", "fwup.conf"), {})
    want = read(fixture("fwup", "F02_ab_upgrade_partition_offset", "meta.conf"))
    _fill(conf, "boot.bin", [3000],
          "fed80105f2ac77cdbf934ca8adef8df3e412fc87006031d18a4bcb381d5eebae")
    _fill(conf, "rootfs.img", [100000],
          "f6cb194a5227d57eacc8ab27dd245d0dad6a62259e1311446492e9a8ef58f7f5")
    assert conf.meta_conf() == want


def test_f05_uboot_and_escaped_variables():
    conf = fwupconf.load(fixture("fwup", "F05_uboot_env_ops", "fwup.conf"),
                         {"FIX_APPLY_VAR": "must not be used"})
    _fill(conf, "env.img", [8192],
          "b7c2b720b9facb990d4915d12c7c434c50363b36ccd1ca98cffbc3cf077eb882")
    assert conf.meta_conf() == read(fixture("fwup", "F05_uboot_env_ops", "meta.conf"))


def test_quoting_rules():
    assert fwupconf.format_value("abc_1.2") == "abc_1.2"
    assert fwupconf.format_value("a-b") == '"a-b"'
    assert fwupconf.format_value("") == '""'
    assert fwupconf.format_value('say "\\hi"') == '"say \\"\\\\hi\\""'
    assert fwupconf.format_value("x${Y}\n") == '"x${Y}\n"'
    assert fwupconf.format_value(12) == "12"
    assert fwupconf.format_value(True) == "true"


def test_schema_order_defaults_and_scrubbed_options():
    conf = _load('task t { on-init { info(hi) } }\nmeta-author = "me"\n'
                 'meta-uuid = "x"\nblock-cache-size-mb = 8\nrequire-fwup-version = "0"\n'
                 'meta-product = "p"\nuboot-environment e { block-offset = 0x10\n'
                 'block-count = 2\n}\n')
    assert conf.meta_conf() == (b'meta-product=p\nmeta-author=me\ntask "t" {\non-init {\n'
                                b'funlist={2,info,hi}\n}\n}\nuboot-environment "e" {\n'
                                b'block-offset=0x10\nblock-count=2\n}\n')


def test_unknown_option_names_file_and_line():
    e = raises(ConfigError, _load, 'meta-product = "x"\n\n\nfile-resource a {\n  colour = 1\n}\n')
    assert "cfg/fwup.conf:5: unknown option 'colour' in file-resource 'a'" in e.message
    assert "host-path" in e.hint


def test_include_relative_to_including_file_keeps_its_line_numbers():
    files = {"cfg/sub/part.conf": "\n\ntask t {\n  on-init { trim(1, 0) }\n}\n"}
    e = raises(ConfigError, _load, 'include("sub/part.conf")\n', None, files)
    assert e.message.startswith("cfg/sub/part.conf:4: trim requires a positive integer")


def test_action_checks():
    bad = (
        ("raw_memset(0, 1, 256)", "between 0 and 255"),
        ("raw_memset(0, 0, 1)", "positive integer"),
        ("raw_write(0)", "only usable in on-resource"),
        ("mbr_write(nope)", "can't find mbr reference 'nope'"),
        ("uboot_setenv(e, a)", "requires 3 arguments, got 2"),
        ("fat_attrib(0, f, X)", "R, H, and S"),
        ("frobnicate(1)", "unknown function 'frobnicate'"),
    )
    for call, msg in bad:
        e = raises(ConfigError, _load, "task t {\n on-init { %s }\n}\n" % call)
        assert "cfg/fwup.conf:2:" in e.message and msg in e.message, (call, e.message)


def test_requirements_build_reqlist():
    conf = _load('uboot-environment e { block-offset = 0\n block-count = 1 }\n'
                 'task t.a { require-uboot-variable(e, "active", b)\n'
                 ' require-partition-offset(1, 0x100) }\n')
    assert b'reqlist={4,"require-uboot-variable",e,active,b,3,"require-partition-offset",1,0x100}'\
        in conf.meta_conf()
    e = raises(ConfigError, _load, "task t { require-partition-offset(4, 0) }\n")
    assert "0-3" in e.message


def test_values_types_and_duplicates():
    e = raises(ConfigError, _load, "block-cache-size-mb = lots\n")
    assert "invalid integer value 'lots'" in e.message
    e = raises(ConfigError, _load, "mbr m { include-osip = maybe }\n")
    assert "invalid boolean" in e.message
    e = raises(ConfigError, _load, "task a {}\ntask a {}\n")
    assert "cfg/fwup.conf:2: duplicate task 'a' (first at cfg/fwup.conf:1)" in e.message
    e = raises(ConfigError, _load, "task {}\n")
    assert "needs a title" in e.message
    e = raises(ConfigError, _load, "uboot-environment e { block-offset = 8\n"
               "block-count = 8\nblock-offset-redund = 12 }\n")
    assert "overlap" in e.message


def test_define_rules_and_eval():
    conf = _load('define(X, one)\ndefine(X, two)\ndefine!(Y, "${X}!")\n'
                 'define-eval(Z, "(1+2)*3M/1M - 2^3^2/64")\nmeta-misc = "${X} ${Y} ${Z} ${E}"\n',
                 {"E": "env"})
    assert conf.meta_conf() == b'meta-misc="one one! 1 env"\n'
    assert fwupconf.eval_math("0x10 + 010 + 2b + 1kB") == 16 + 8 + 1024 + 1000
    assert fwupconf.eval_math("-7 / 2") == -3
    e = raises(ConfigError, _load, 'define-eval(Z, "1 +")\n')
    assert "error evaluating" in e.message


def test_archive_paths():
    conf = _load('file-resource "sub/x.bin" { contents = "a" }\n'
                 'file-resource "/extra/y" { contents = "b" }\n')
    assert [fwupconf.archive_path(r) for r in conf.resources] == ["data/sub/x.bin", "extra/y"]
    assert fwupconf.size_var("a-b/c.d") == "FWUP_SIZE_a_b_c_d"


def test_zip_layout_of_stored_entries():
    out = io.BytesIO()
    w = writer.ZipWriter(out)
    sig = bytes(range(64))
    w.add("meta.conf.ed25519", sig, method=writer.STORED)
    size = w.close()
    data = out.getvalue()
    assert size == len(data) == 30 + 17 + 20 + 64 + 16 + 46 + 17 + 20 + 22
    # local header: version 10, flags 8, stored, DOS epoch, CRC 0, sizes 64/64
    assert data[:30] == binascii.unhexlify(
        "504b03040a0008000000000021000000000040000000400000001100" + "1400")
    assert data[47:67] == b"UT\x01\x00\x00ux\x0b\x00\x01\x04\x00\x00\x00\x00\x04\x00\x00\x00\x00"
    crc = binascii.crc32(sig) & 0xFFFFFFFF
    desc = data[131:147]
    assert desc[:4] == b"PK\x07\x08" and int.from_bytes(desc[4:8], "little") == crc
    assert data[147:153] == b"PK\x01\x02\x0a\x03"
    assert data[-22:-18] == b"PK\x05\x06"


def test_dos_datetime():
    assert writer.dos_datetime((2023, 11, 14, 22, 13, 20)) == 0x576EB1AA
    assert writer.dos_datetime((1970, 1, 1, 0, 0, 0)) == writer.DOS_EPOCH


def test_deflate_needs_cpython():
    w = writer.ZipWriter(io.BytesIO())
    if IS_MICROPYTHON:
        e = raises(FwupError, w.begin, "meta.conf", 3)
        assert "zlib" in e.message
    else:
        w.add("x", b"abc")
    e = raises(FwupError, writer.ZipWriter, io.BytesIO(), 10)
    assert "0..9" in e.message


def test_writer_rejects_size_mismatch():
    w = writer.ZipWriter(io.BytesIO())
    w.begin("s", 5, method=writer.STORED)
    w.write(b"abc")
    e = raises(FwupError, w.end)
    assert "got 3 bytes but 5 were declared" in e.message


def test_fixture_key_files_decode():
    pub = keygen.read_key_file(fixture("fwup", "keys", "fwup-key.pub"), 32)
    priv = keygen.read_key_file(fixture("fwup", "keys", "fwup-key.priv"), 64)
    assert priv[32:] == pub
    assert keygen.encode(pub) == read(fixture("fwup", "keys", "fwup-key.pub"))
    e = raises(CryptoError, keygen.decode, b"@@@@", 32)
    assert "32-byte key" in e.message


def test_create_on_micropython_says_what_to_do():
    from nerves_hub_link.fwup import create

    if not IS_MICROPYTHON:
        return
    e = raises(FwupError, create.create_archive,
               fixture("fwup", "F01_raw_write_basic", "fwup.conf"), "/tmp/never.fw")
    assert "zlib" in e.message and "CPython" in e.hint
