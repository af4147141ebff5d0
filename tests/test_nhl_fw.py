"""`nhl fw` subcommands through nhl.cli.main, against the real fwup fixtures."""

import base64
import json
import os
import shutil
import time

import pytest
from nhl import cli

BASE = "tests/fixtures/fwup"
KEY = BASE + "/keys/fwup-key.priv"
PUB = BASE + "/keys/fwup-key.pub"
OTHER = BASE + "/keys/other-key.pub"
F01 = BASE + "/F01_raw_write_basic"


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.delenv("NHL_FWUP_SHA256", raising=False)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def run(capsys, *argv):
    rc = cli.main(["fw"] + list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_create_matches_real_fwup(tmp_path, capsys):
    out = tmp_path / "u.fw"
    rc, text, _ = run(capsys, "create", "-f", F01 + "/fwup.conf", "-o", str(out))
    assert rc == 0 and "meta-uuid 78ff273a-6475-5b82-2650-da011c72f8b2" in text
    assert out.read_bytes() == open(F01 + "/unsigned.fw", "rb").read()
    rc, _, _ = run(capsys, "create", "-q", "-f", F01 + "/fwup.conf", "-o", str(out), "-s", KEY)
    assert rc == 0 and out.read_bytes() == open(F01 + "/signed.fw", "rb").read()


def test_sign_then_verify_and_inspect(tmp_path, capsys):
    fw = tmp_path / "a.fw"
    shutil.copyfile(F01 + "/unsigned.fw", fw)
    rc, _, _ = run(capsys, "verify", str(fw))
    assert rc == 0
    rc, text, _ = run(capsys, "verify", str(fw), "-p", PUB)
    assert rc == 1 and "Expecting signed firmware archive." in text
    rc, _, _ = run(capsys, "sign", "-q", "-i", str(fw), "-s", KEY)
    assert rc == 0 and fw.read_bytes() == open(F01 + "/signed.fw", "rb").read()
    rc, text, _ = run(capsys, "verify", str(fw), "-p", PUB)
    assert (rc, text) == (0, "Valid archive with a good signature\n")
    rc, text, _ = run(capsys, "verify", str(fw))
    assert rc == 0 and "unverified signature" in text
    rc, text, _ = run(capsys, "verify", str(fw), "-p", OTHER)
    assert rc == 1 and "fails digital signature verification" in text
    rc, text, _ = run(capsys, "inspect", str(fw), "-p", OTHER, "-p", PUB)
    assert rc == 0
    for want in ("meta-product           fixture01", "meta-nickname          ice-zoo",
                 "meta-creation-date     2023-11-14T22:13:20Z", "good (%s)" % PUB,
                 "data/c.bin                   deflate        70000        70025",
                 "c.bin  70000 bytes",
                 "blake2b-256 c5fcde2d8a3cd3498bf24b52a3a823640781917dff297a54ec505258ace4eb1a",
                 "[c.bin]   raw_write(200)", "Check    OK"):
        assert want in text, want


def test_inspect_json_and_sparse(capsys):
    rc, text, _ = run(capsys, "inspect", "--json", BASE + "/F07_multi_resource/signed.fw")
    d = json.loads(text)
    assert rc == 0 and d["ok"] and d["signature"].startswith("present")
    assert d["resources"]["sparse.img"]["runs"] == [4096, 61440, 4096, 130368]
    assert d["resources"]["sparse.img"]["size"] == 200000
    assert d["metadata"]["meta-uuid"] == "94c6c770-416b-52be-9a11-4eb2b12def3d"
    assert d["tasks"] == ["complete", "other"]


@pytest.mark.parametrize("variant,message", [
    ("imposter_resource.fw", "Detected blake2b digest mismatch for a.bin"),
    ("missing_b.fw", "Resource b.bin not found in archive"),
    ("signature_after_meta_conf.fw", "Can't find file-resource for /meta.conf.ed25519"),
    ("meta_conf_not_first.fw", "meta.conf must be the first entry"),
])
def test_verify_reports_damaged_archives(variant, message, capsys):
    rc, text, _ = run(capsys, "verify", BASE + "/N_negative/" + variant)
    assert rc == 1 and message in text


def test_verify_truncated_archive(capsys):
    rc, _, err = run(capsys, "verify", BASE + "/N_negative/truncated_mid_a.fw")
    assert rc == 1 and "ZIP decompression failed (-5)" in err


def test_sha256_flag(tmp_path, capsys):
    out = tmp_path / "s.fw"
    rc, _, _ = run(capsys, "create", "-q", "--sha256", "-f", F01 + "/fwup.conf", "-o", str(out))
    assert rc == 0
    rc, text, _ = run(capsys, "inspect", str(out))
    assert rc == 0 and text.count("    sha256      ") == 3


def test_keygen_then_detached_sign_verify(tmp_path, capsys):
    prefix = str(tmp_path / "dev")
    rc, _, _ = run(capsys, "keygen", "-o", prefix)
    assert rc == 0
    assert len(open(prefix + ".pub", "rb").read()) == 44
    rc, _, err = run(capsys, "keygen", "-o", prefix)
    assert rc == 1 and "already exists" in err
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(300000))
    rc, _, _ = run(capsys, "sign", "-q", "--detached", str(blob), "-s", prefix + ".priv")
    assert rc == 0 and len(base64.b64decode(open(str(blob) + ".sig", "rb").read())) == 64
    rc, text, _ = run(capsys, "verify", "--detached", str(blob), "-p", PUB, "-p",
                      prefix + ".pub")
    assert rc == 0 and "good signature" in text
    # raw 64-byte signature files are accepted too
    raw = tmp_path / "raw.sig"
    raw.write_bytes(base64.b64decode(open(str(blob) + ".sig", "rb").read()))
    rc, _, _ = run(capsys, "verify", "--detached", str(blob), "--sig", str(raw), "-p",
                   prefix + ".pub")
    assert rc == 0
    with open(blob, "r+b") as f:
        f.seek(150000)
        f.write(b"X")
    rc, text, _ = run(capsys, "verify", "--detached", str(blob), "-p", prefix + ".pub")
    assert rc == 1 and "BAD signature" in text


def test_bad_conf_line_is_named(tmp_path, capsys):
    conf = tmp_path / "fwup.conf"
    conf.write_text('meta-product = "x"\ntask t {\n  on-init { raw_memset(1, 2) }\n}\n')
    rc, _, err = run(capsys, "create", "-f", str(conf), "-o", str(tmp_path / "o.fw"))
    assert rc == 1
    assert "%s:3: raw_memset requires 3 arguments, got 2" % conf in err
    assert not (tmp_path / "o.fw").exists()


def test_usage_errors_exit_2(tmp_path, capsys):
    assert run(capsys, "create", "-f", str(tmp_path / "none.conf"), "-o", "x.fw")[0] == 2
    assert run(capsys, "inspect", str(tmp_path / "none.fw"))[0] == 2
    assert run(capsys, "verify")[0] == 2
    assert run(capsys, "verify", F01 + "/signed.fw", "-p", str(tmp_path / "nokey"))[0] == 2
    assert run(capsys)[0] == 2
    with pytest.raises(SystemExit) as e:
        cli.main(["fw", "create", "-f", "x", "-o", "y", "-l", "12"])
    assert e.value.code == 2


@pytest.mark.parametrize("sub,options", [
    ("keygen", ["--output"]),
    ("create", ["--config", "--output", "--private-key", "--sha256", "--level", "--define",
                "--quiet", "--progress"]),
    ("sign", ["--input", "--output", "--private-key", "--detached", "--quiet", "--progress"]),
    ("inspect", ["--public-key", "--json", "--progress"]),
    ("verify", ["--public-key", "--detached", "--sig", "--progress"]),
])
def test_help_explains_every_option(sub, options, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["fw", sub, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for opt in options:
        line = [ln for ln in text.splitlines() if opt in ln]
        assert line, opt
    # every option line carries an explanation, not just the flag
    assert text.count("\n  -") >= len(options)
    assert "fwup" in text


def test_progress_bar_only_when_asked(tmp_path, capsys):
    out = str(tmp_path / "p.fw")
    rc, _, err = run(capsys, "create", "-q", "-f", F01 + "/fwup.conf", "-o", out)
    assert rc == 0 and err == ""
    rc, _, err = run(capsys, "create", "-q", "--progress", "-f", F01 + "/fwup.conf", "-o", out)
    assert rc == 0 and err.endswith("100%\n") and "\r" in err


def test_function_at_top_level_is_refused(tmp_path, capsys):
    conf = tmp_path / "fwup.conf"
    conf.write_text("\nraw_write(0)\n")
    rc, _, err = run(capsys, "create", "-f", str(conf), "-o", str(tmp_path / "o.fw"))
    assert rc == 1 and ":2: function raw_write() is not allowed at the top level" in err


def test_define_option_feeds_variables(tmp_path, capsys):
    conf = tmp_path / "fwup.conf"
    conf.write_text('meta-version = "${VER}"\n')
    out = tmp_path / "o.fw"
    rc, _, _ = run(capsys, "create", "-q", "-f", str(conf), "-o", str(out), "-D", "VER=4.5")
    assert rc == 0
    rc, text, _ = run(capsys, "inspect", "--json", str(out))
    assert json.loads(text)["metadata"]["meta-version"] == "4.5"
