"""fwup creation (`fwup -c`, `-S`, `-g`) against the real fwup 1.16.0 fixtures."""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nerves_hub_link.errors import ConfigError, CryptoError, FwupError
from nerves_hub_link.fwup import create, keygen

BASE = "tests/fixtures/fwup"
KEY = BASE + "/keys/fwup-key.priv"
PUB = BASE + "/keys/fwup-key.pub"
OTHER_PUB = BASE + "/keys/other-key.pub"
RESULTS = {r["name"]: r for r in json.load(open(BASE + "/results.json"))}
FIXTURES = sorted(RESULTS)
SPARSE_RUNS = ((0, 4096), (65536, 4096))  # F07 sparse.img data runs; 200000 bytes in all


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    # The fixtures were made with TZ=UTC (the DOS time of meta.conf is local time).
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _env(name):
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    env.update(RESULTS[name].get("create_env", {}))
    return env


def _supports_holes(path):
    with open(path, "rb") as f:
        try:
            return os.lseek(f.fileno(), 0, os.SEEK_HOLE) < os.fstat(f.fileno()).st_size
        except (OSError, AttributeError):
            return False


def _workdir(name, tmp_path):
    """A copy of the fixture's sources; F07's sparse.img is rebuilt with real holes."""
    dst = tmp_path / name
    shutil.copytree(os.path.join(BASE, name), dst,
                    ignore=shutil.ignore_patterns("*.img", "*.img.gz", "*.fw", "*.bin.txt"))
    src_inputs = os.path.join(BASE, name, "inputs")
    for f in os.listdir(src_inputs):
        shutil.copyfile(os.path.join(src_inputs, f), dst / "inputs" / f)
    if name.startswith("F07"):
        data = open(os.path.join(src_inputs, "sparse.img"), "rb").read()
        p = dst / "inputs" / "sparse.img"
        p.unlink()
        with open(p, "wb") as f:
            for off, n in SPARSE_RUNS:
                f.seek(off)
                f.write(data[off:off + n])
            f.truncate(len(data))
        if not _supports_holes(str(p)):
            pytest.skip("filesystem of %s has no SEEK_HOLE support" % tmp_path)
    return dst


@pytest.mark.parametrize("name", FIXTURES)
def test_unsigned_archive_is_byte_identical(name, tmp_path):
    d = _workdir(name, tmp_path)
    out = tmp_path / "out.fw"
    info = create.create_archive(str(d / "fwup.conf"), str(out), env=_env(name))
    assert info["meta_conf"] == open(os.path.join(BASE, name, "meta.conf"), "rb").read()
    assert 'meta-uuid="%s"' % info["uuid"] in open(os.path.join(BASE, name, "metadata.txt")).read()
    got = out.read_bytes()
    assert hashlib.sha256(got).hexdigest() == RESULTS[name]["fw_sha256"]["unsigned.fw"]
    assert got == open(os.path.join(BASE, name, "unsigned.fw"), "rb").read()


@pytest.mark.parametrize("name", FIXTURES)
def test_signed_archive_is_byte_identical(name, tmp_path):
    d = _workdir(name, tmp_path)
    out = tmp_path / "signed.fw"
    info = create.create_archive(str(d / "fwup.conf"), str(out), private_key=KEY,
                                 env=_env(name))
    assert info["signed"] and info["entries"][0] == ("meta.conf.ed25519", 64)
    assert out.read_bytes() == open(os.path.join(BASE, name, "signed.fw"), "rb").read()


@pytest.mark.parametrize("name", FIXTURES)
def test_resign_real_unsigned_gives_real_signed(name, tmp_path):
    out = tmp_path / "resigned.fw"
    create.sign_archive(os.path.join(BASE, name, "unsigned.fw"), str(out), KEY, env=_env(name))
    assert out.read_bytes() == open(os.path.join(BASE, name, "signed.fw"), "rb").read()


def test_resign_in_place_changes_mtime_keeps_uuid(tmp_path):
    fw = tmp_path / "a.fw"
    shutil.copyfile(BASE + "/F01_raw_write_basic/signed.fw", fw)
    info = create.sign_archive(str(fw), str(fw), KEY, env={"SOURCE_DATE_EPOCH": "1800000000"})
    z = zipfile.ZipFile(fw)
    assert [i.filename for i in z.infolist()][:2] == ["meta.conf.ed25519", "meta.conf"]
    assert z.getinfo("meta.conf").date_time == (2027, 1, 15, 8, 0, 0)
    assert info["uuid"] == "78ff273a-6475-5b82-2650-da011c72f8b2"
    assert not os.path.exists(str(fw) + ".tmp")


def test_sign_rejects_meta_conf_after_resources(tmp_path):
    e = pytest.raises(FwupError, create.sign_archive,
                      BASE + "/N_negative/meta_conf_not_first.fw", str(tmp_path / "x.fw"), KEY)
    assert "meta.conf must be at the beginning" in str(e.value)
    assert not (tmp_path / "x.fw.tmp").exists()


def _signature_and_meta(path):
    z = zipfile.ZipFile(path)
    return z.read("meta.conf.ed25519"), z.read("meta.conf")


@pytest.mark.parametrize("name", FIXTURES)
def test_real_and_our_signatures_verify(name, tmp_path):
    pub = keygen.read_key_file(PUB, 32)
    other = keygen.read_key_file(OTHER_PUB, 32)
    sig, meta = _signature_and_meta(os.path.join(BASE, name, "signed.fw"))
    assert keygen.verify(pub, sig, meta)
    assert not keygen.verify(other, sig, meta)
    assert not keygen.verify(pub, sig, meta + b" ")
    d = _workdir(name, tmp_path)
    create.create_archive(str(d / "fwup.conf"), str(tmp_path / "o.fw"), private_key=KEY,
                          env=dict(_env(name), SOURCE_DATE_EPOCH="1"))
    sig2, meta2 = _signature_and_meta(tmp_path / "o.fw")
    assert keygen.verify(pub, sig2, meta2)


def test_real_signature_with_pure_streaming_verifier():
    from nerves_hub_link.crypto import ed25519

    pub = keygen.read_key_file(PUB, 32)
    sig, meta = _signature_and_meta(BASE + "/F07_multi_resource/signed.fw")
    v = ed25519.Verifier(pub, sig)
    for i in range(0, len(meta), 100):
        v.update(meta[i:i + 100])
    assert v.verify()
    assert ed25519.verify_pure(pub, sig, meta)
    assert not ed25519.verify_pure(pub, sig, meta[:-1])


def test_sha256_option_adds_only_sha256_lines(tmp_path):
    name = "F01_raw_write_basic"
    out = tmp_path / "s.fw"
    info = create.create_archive(BASE + "/%s/fwup.conf" % name, str(out), sha256=True,
                                 env=_env(name))
    real = open(BASE + "/%s/meta.conf" % name).read().splitlines()
    ours = info["meta_conf"].decode().splitlines()
    added = [line for line in ours if line.startswith("sha256=")]
    assert [line for line in ours if not line.startswith("sha256=")] == real
    want = []
    for res in ("a.bin", "b.bin", "c.bin"):
        data = open(BASE + "/%s/inputs/%s" % (name, res), "rb").read()
        want.append("sha256=%s" % hashlib.sha256(data).hexdigest())
    assert added == want
    # placed right after blake2b-256 inside each file-resource
    for i, line in enumerate(ours):
        if line.startswith("sha256="):
            assert ours[i - 1].startswith("blake2b-256=") and ours[i + 1] == "}"
    z = zipfile.ZipFile(out)
    assert z.read("data/b.bin") == open(BASE + "/%s/inputs/b.bin" % name, "rb").read()


def test_sha256_from_environment_variable(tmp_path):
    env = dict(_env("F08_large_streaming"), NHL_FWUP_SHA256="1")
    info = create.create_archive(BASE + "/F08_large_streaming/fwup.conf",
                                 str(tmp_path / "x.fw"), env=env)
    assert b"\nsha256=" in info["meta_conf"]
    env["NHL_FWUP_SHA256"] = "0"
    info = create.create_archive(BASE + "/F08_large_streaming/fwup.conf",
                                 str(tmp_path / "x.fw"), env=env)
    assert b"sha256" not in info["meta_conf"]


@pytest.mark.parametrize("level", [1, 9])
def test_compression_levels_roundtrip(level, tmp_path):
    out = tmp_path / "l.fw"
    create.create_archive(BASE + "/F08_large_streaming/fwup.conf", str(out), level=level,
                          env=_env("F08_large_streaming"))
    z = zipfile.ZipFile(out)
    assert z.testzip() is None
    assert z.read("data/big.bin") == open(BASE + "/F08_large_streaming/inputs/big.bin",
                                          "rb").read()
    size = z.getinfo("data/big.bin").compress_size
    assert (size == 526250) == (level == 9)


def test_creation_time_sources():
    assert create.creation_time({"SOURCE_DATE_EPOCH": "1700000000"}) == 1700000000
    assert create.creation_time({"SOURCE_DATE_EPOCH": "0x10"}) == 16
    assert create.creation_time({"NOW": "2018-05-05T18:10:16Z"}) == 1525543816
    before = int(time.time())
    assert create.creation_time({"NOW": "yesterday"}) >= before


def test_meta_uuid_vector():
    meta = (b'meta-product="product name"\nmeta-description="product description"\n'
            b'meta-version="some version"\nmeta-author=someone\nmeta-platform="a platform"\n'
            b'meta-architecture="an architecture"\n')
    assert create.meta_uuid(meta) == "53233641-82a4-5576-b75d-d227a234c626"


def test_genkey_formats_and_fixture_keys(tmp_path):
    pub, priv = create.generate_keys()
    assert len(pub) == 32 and len(priv) == 64 and priv[32:] == pub
    assert keygen.public_from_seed(priv[:32]) == pub
    prefix = str(tmp_path / "k")
    assert create.genkey_cmd({"output": prefix, "quiet": True}) == 0
    pub_text = open(prefix + ".pub", "rb").read()
    priv_text = open(prefix + ".priv", "rb").read()
    assert len(pub_text) == 44 and len(priv_text) == 88 and not pub_text.endswith(b"\n")
    assert os.stat(prefix + ".priv").st_mode & 0o777 == 0o600
    p = base64.b64decode(priv_text)
    assert base64.b64decode(pub_text) == p[32:] == keygen.public_from_seed(p[:32])
    # the real fwup -g files have the same shape
    real_priv = open(KEY, "rb").read()
    real_pub = open(PUB, "rb").read()
    assert len(real_priv) == 88 and len(real_pub) == 44
    assert base64.b64decode(real_priv)[32:] == base64.b64decode(real_pub)
    assert keygen.public_from_seed(base64.b64decode(real_priv)[:32]) == base64.b64decode(real_pub)
    # refuses to overwrite
    assert create.genkey_cmd({"output": prefix, "quiet": True}) == 1
    assert open(prefix + ".pub", "rb").read() == pub_text


def test_key_decoding_variants():
    raw = base64.b64decode(open(PUB, "rb").read())
    assert keygen.decode(raw, 32) == raw
    assert keygen.decode(base64.b64encode(raw).rstrip(b"="), 32) == raw
    assert keygen.decode(base64.b64encode(raw) + b"\n\n", 32) == raw
    e = pytest.raises(CryptoError, keygen.decode, b"short", 32)
    assert "32-byte key" in str(e.value)


def _write(tmp_path, text, name="fwup.conf"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_bad_conf_line_names_file_and_line(tmp_path):
    conf = _write(tmp_path, 'meta-product = "x"\n\nmeta-colour = "red"\n')
    e = pytest.raises(ConfigError, create.create_archive, conf, str(tmp_path / "o.fw"), env={})
    assert "fwup.conf:3: unknown option 'meta-colour'" in str(e.value)
    assert not (tmp_path / "o.fw").exists()


def test_bad_action_argument_names_line(tmp_path):
    conf = _write(tmp_path, 'file-resource a { contents = "x" }\ntask t {\n'
                  '  on-resource a { raw_write(abc) }\n}\n')
    e = pytest.raises(ConfigError, create.create_archive, conf, str(tmp_path / "o.fw"), env={})
    assert "fwup.conf:3:" in str(e.value) and "raw_write" in str(e.value)
    assert "'abc'" in str(e.value)


def test_on_resource_needs_declared_resource(tmp_path):
    conf = _write(tmp_path, 'task t {\n  on-resource missing { raw_write(0) }\n}\n')
    e = pytest.raises(ConfigError, create.create_archive, conf, str(tmp_path / "o.fw"), env={})
    assert "fwup.conf:2: unknown resource: missing" in str(e.value)


def test_missing_host_path_names_resource(tmp_path):
    conf = _write(tmp_path, 'file-resource a {\n host-path = "nope.bin"\n}\n')
    e = pytest.raises(ConfigError, create.create_archive, conf, str(tmp_path / "o.fw"), env={})
    assert "can't open path" in str(e.value) and "'a'" in str(e.value)


def test_assert_size_fails_creation(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"\1" * 1025)
    conf = _write(tmp_path, 'file-resource x {\n host-path = "x.bin"\n assert-size-lte = 2\n}\n')
    e = pytest.raises(ConfigError, create.create_archive, conf, str(tmp_path / "o.fw"), env={})
    assert "fwup.conf:1:" in str(e.value) and "<= 1024 bytes (2 blocks)" in str(e.value)


def test_define_include_and_size_variables(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.bin").write_bytes(b"z" * 777)
    _write(tmp_path, 'file-resource d { host-path = "data.bin" }\n', "sub/inc.conf")
    conf = _write(tmp_path, "\n".join([
        'define(A, "first")', 'define(A, "second")', 'define!(B, "${A}-bang")',
        'define-eval(C, "2 * (3 + 4) ^ 2 + 1K / 2 - -1")', 'define(FROM_ENV, "conf")',
        'include("sub/inc.conf")',
        'meta-product = "${A} ${B} ${C} ${FROM_ENV} ${FWUP_SIZE_d} ${UNSET:-dflt}"',
        'task t { on-init { info("${FWUP_META_UUID}") } }', ""]))
    info = create.create_archive(conf, str(tmp_path / "o.fw"), env={"FROM_ENV": "env"})
    text = info["meta_conf"].decode()
    assert text.startswith('meta-product="first first-bang 611 env 777 dflt"\n')
    assert 'funlist={2,info,"${FWUP_META_UUID}"}' in text
    assert zipfile.ZipFile(tmp_path / "o.fw").read("data/d") == b"z" * 777


def test_empty_conf_and_empty_task(tmp_path):
    info = create.create_archive(_write(tmp_path, "# nothing\n"), str(tmp_path / "o.fw"), env={})
    assert info["meta_conf"] == b"# Empty file\n"
    info = create.create_archive(_write(tmp_path, "task noop {}\nmbr m {}\n"),
                                 str(tmp_path / "o.fw"), env={})
    assert info["meta_conf"] == b'task "noop" {\n}\n'


def test_fat_write_gets_resource_name(tmp_path):
    conf = _write(tmp_path, 'file-resource "a b" { contents = "hi" }\n'
                  'task t { on-resource "a b" { fat_write(63) } }\n')
    info = create.create_archive(conf, str(tmp_path / "o.fw"), env={})
    assert b'funlist={3,fat_write,63,"a b"}' in info["meta_conf"]


def test_bad_resource_names(tmp_path):
    for title, msg in (('"/data/x"', "use a normal resource name"),
                       ('"a/"', "can't end in a '/'"), ('"/meta.conf"', "/meta.conf")):
        conf = _write(tmp_path, "file-resource %s { contents = \"x\" }\n" % title)
        e = pytest.raises(ConfigError, create.create_archive, conf, str(tmp_path / "o.fw"),
                          env={})
        assert msg in str(e.value) and "fwup.conf:1" in str(e.value)


def test_require_fwup_version_too_new(tmp_path):
    conf = _write(tmp_path, 'require-fwup-version = "1.17.0"\n')
    e = pytest.raises(ConfigError, create.create_archive, conf, str(tmp_path / "o.fw"), env={})
    assert "fwup version '1.17.0' required" in str(e.value)


def test_create_cmd_reports_errors(tmp_path, capsys):
    rc = create.create_cmd({"config": str(tmp_path / "missing.conf"),
                            "output": str(tmp_path / "o.fw")})
    assert rc == 1
    assert "fwup: can't read" in capsys.readouterr().err
    assert create.create_cmd({"output": "x"}) == 1
    assert create.sign_cmd({"input": "x.fw"}) == 1


def _applier_available():
    try:
        import nerves_hub_link.fwup.cli  # noqa: F401
    except ImportError:
        return False
    return True


def _apply_steps():
    """Every successful apply step of signed.fw that starts from a fresh or prefilled image."""
    out = []
    for name in FIXTURES:
        for step in RESULTS[name]["applies"]:
            if step["fw"] == "signed.fw" and step["rc"] == 0 and step["key"] and (
                    step["start_image"] is None or step["start_image"].startswith("inputs/")):
                out.append((name, step["step"]))
                break
    return out


@pytest.mark.skipif(not _applier_available(), reason="applier CLI not written yet")
@pytest.mark.parametrize("name,step_name", _apply_steps())
def test_our_archive_applies_like_the_real_one(name, step_name, tmp_path):
    step = [s for s in RESULTS[name]["applies"] if s["step"] == step_name][0]
    d = _workdir(name, tmp_path)
    ours = tmp_path / "ours.fw"
    create.create_archive(str(d / "fwup.conf"), str(ours), private_key=KEY, env=_env(name))
    env = dict(os.environ, PYTHONPATH="lib:port_cpython:tools", **step["env"])
    images = []
    for fw in (str(ours), os.path.join(BASE, name, "signed.fw")):
        img = tmp_path / ("img%d" % len(images))
        if step["start_image"]:
            shutil.copyfile(os.path.join(BASE, name, step["start_image"]), img)
            os.chmod(img, 0o644)
        r = subprocess.run([sys.executable, "-m", "nerves_hub_link.fwup", "-a", "-q", "-d",
                            str(img), "-t", step["task"], "-p", PUB, "-i", fw],
                           env=env, capture_output=True)
        assert r.returncode == 0, r.stdout + r.stderr
        images.append(img.read_bytes())
    assert images[0] == images[1]
    assert hashlib.sha256(images[0]).hexdigest() == step["image"]["sha256"]


def _fwup(args, cwd, tmp_path, stdin=None):
    root = os.path.abspath(".")
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000", TZ="UTC",
               PYTHONPATH=os.pathsep.join(os.path.join(root, p)
                                          for p in ("lib", "port_cpython", "tools")))
    return subprocess.run([sys.executable, "-m", "nerves_hub_link.fwup"] + args, cwd=cwd,
                          env=env, capture_output=True, input=stdin)


@pytest.mark.skipif(not _applier_available(), reason="fwup CLI not written yet")
def test_fwup_cli_create_sign_genkey(tmp_path):
    d = os.path.abspath(BASE + "/F01_raw_write_basic")
    key_text = open(KEY).read()
    signed = open(d + "/signed.fw", "rb").read()
    for n, args in enumerate((["-s", "../keys/fwup-key.priv"], ["--private-key", key_text])):
        out = str(tmp_path / ("s%d.fw" % n))
        r = _fwup(["-c", "-f", "fwup.conf", "-o", out] + args, d, tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        assert open(out, "rb").read() == signed
    out = str(tmp_path / "resigned.fw")
    r = _fwup(["-S", "-s", "../keys/fwup-key.priv", "-i", "unsigned.fw", "-o", out], d, tmp_path)
    assert r.returncode == 0 and open(out, "rb").read() == signed
    out = str(tmp_path / "stdin.fw")
    r = _fwup(["-c", "-f", "-", "-o", out], d, tmp_path,
              stdin=open(d + "/fwup.conf", "rb").read())
    assert r.returncode == 0 and open(out, "rb").read() == open(d + "/unsigned.fw", "rb").read()
    r = _fwup(["-c", "-1", "--sha256", "-f", "fwup.conf", "-o", str(tmp_path / "l1.fw")], d,
              tmp_path)
    assert r.returncode == 0
    assert zipfile.ZipFile(tmp_path / "l1.fw").read("meta.conf").count(b"sha256=") == 3
    r = _fwup(["-g", "-o", str(tmp_path / "gk")], d, tmp_path)
    assert r.returncode == 0 and len(open(tmp_path / "gk.priv", "rb").read()) == 88
    r = _fwup(["-c", "-f", "nope.conf", "-o", str(tmp_path / "x.fw")], d, tmp_path)
    assert r.returncode == 1 and b"nope.conf" in r.stderr


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_printed_strings_parse_back(s):
    from nerves_hub_link.fwup import confuse, fwupconf

    if "${" in s or "\x00" in s:
        return
    root = confuse.parse("meta-misc = %s\n" % fwupconf.format_value(s))
    assert root.get("meta-misc") == s
