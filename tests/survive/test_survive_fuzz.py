"""Hypothesis fuzzing of the parsers tests/test_cores_fuzz.py and tests/test_nerves_key_fuzz.py
do not cover: the streaming zip reader and applier (arbitrary and mutated signed archives),
meta.conf / libconfuse text, the U-Boot environment codec and the ``update`` payload.
Bad input may only raise our ``NervesHubError`` family, and a refused archive leaves the
device exactly as it was. SOAK=1 runs 10 000 examples per target."""

import hashlib
import json
import os

import pytest
from doubles.powercut import RamDevice
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nerves_hub_link.errors import FwupError, NervesHubError
from nerves_hub_link.fwup import confuse, metaconf, uboot_env
from nerves_hub_link.fwup.applier import Applier
from nerves_hub_link.fwup.zipstream import ZipStream
from nerves_hub_link.update_info import UpdateInfo
from survive_kit import parse_env_copy
from test_survive_archives import PUB, archive, b2, meta

SOAK = os.environ.get("SOAK") == "1"
pytestmark = pytest.mark.slow  # short runs in CI; `make soak` (-m slow) runs 10 000 each


def fuzz(ci):
    return settings(max_examples=10000 if SOAK else ci, deadline=None, derandomize=not SOAK,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


PAYLOAD = bytes(range(256)) * 12 + b"tail" * 100
GOOD_META = meta([("r", len(PAYLOAD), b2(PAYLOAD))], 'on-resource "r" { funlist={2,raw_write,4} }')
GOOD = archive(GOOD_META, [("data/r", PAYLOAD)])


def _device():
    return RamDevice(bytes([0x5A]) * (64 * 512))


def _expected():
    dev = _device()
    _apply(dev, GOOD, [len(GOOD)])
    return bytes(dev.data)


def _apply(dev, fw, cuts):
    a = Applier(dev, "upgrade", public_keys=[PUB])
    pos = 0
    for c in sorted(set(cuts)) + [len(fw)]:
        if c > pos:
            a.feed(fw[pos:c])
            pos = c
    a.finish()


EXPECTED = _expected()
BEFORE = bytes(_device().data)


class _Sink:
    def on_entry(self, e):
        return True

    def on_data(self, e, chunk):
        pass

    def on_entry_end(self, e):
        pass

    def on_end(self, err):
        pass


@fuzz(300)
@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=6))
def test_zipstream_arbitrary_bytes(data, cuts):
    z = ZipStream(_Sink())
    try:
        pos = 0
        for c in sorted(cuts) + [len(data)]:
            if c > pos:
                z.feed(data[pos:c])
                pos = c
        z.finish()
    except NervesHubError:
        pass


@st.composite
def mutated(draw):
    fw = bytearray(GOOD)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        i = draw(st.integers(0, len(fw) - 1))
        if kind == "flip":
            fw[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            fw[i] = draw(st.integers(0, 255))
        elif kind == "cut":
            del fw[i:]
        elif kind == "insert":
            fw[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            del fw[i:i + draw(st.integers(1, 16))]
        if not fw:
            break
    return bytes(fw)


@fuzz(300)
@given(mutated(), st.lists(st.integers(0, len(GOOD)), max_size=4))
def test_mutated_signed_archive_is_all_or_nothing(fw, cuts):
    # a byte of the signed content changed: refused, nothing written; a change the signature
    # and hashes cannot see (zip header metadata): exactly the good image
    dev = _device()
    try:
        _apply(dev, fw, cuts)
    except NervesHubError:
        assert bytes(dev.data) == BEFORE
        return
    assert bytes(dev.data) == EXPECTED


@fuzz(300)
@given(st.binary(max_size=1500))
def test_applier_arbitrary_bytes_writes_nothing(data):
    dev = _device()
    with pytest.raises(NervesHubError):
        _apply(dev, data, [])
    assert bytes(dev.data) == BEFORE


CONF_ALPHABET = st.sampled_from(list("{}(),=+\"'\\ \n\t#$-_.0x9azZ/*") + ["${A}", "${B:-d}",
                                                                            "task", "on-init"])


@fuzz(500)
@given(st.lists(CONF_ALPHABET, max_size=120).map("".join))
def test_confuse_and_metaconf_text(text):
    try:
        confuse.parse(text, env={"A": "1"})
    except NervesHubError:
        pass
    try:
        metaconf.load(text.encode())
    except NervesHubError:
        pass


@fuzz(300)
@given(st.binary(max_size=600))
def test_metaconf_arbitrary_bytes(data):
    try:
        metaconf.load(data)
    except NervesHubError:
        pass


@fuzz(500)
@given(st.binary(min_size=0, max_size=300), st.binary(min_size=0, max_size=300))
def test_uboot_env_arbitrary_bytes(a, b):
    for buf, red in ((a, False), (a, True)):
        try:
            uboot_env.decode(buf, red)
        except FwupError:
            pass
    if len(a) >= 5 and len(b) >= 5:
        try:
            uboot_env.choose(a, b)
        except FwupError:
            pass


KEY = st.text(st.characters(blacklist_characters="=\x00", blacklist_categories=("Cs",)),
              min_size=1, max_size=12)
VAL = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
              max_size=20)


@fuzz(300)
@given(st.dictionaries(KEY, VAL, max_size=12), st.integers(0, 255))
def test_uboot_env_round_trip_against_independent_parser(env, flags):
    try:
        img = uboot_env.encode(env, 1024, True, flags)
    except FwupError:
        size = sum(len(k.encode()) + len(v.encode()) + 2 for k, v in env.items())
        assert size >= 1024 - 8
        return
    got_flags, pairs = parse_env_copy(bytes(img))
    assert got_flags == flags and pairs == env
    assert uboot_env.decode(img, True) == env


def _nest(children):
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                           max_size=4)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=20), _nest, max_leaves=12)
URL = st.sampled_from(["https://h/fw", "http://h:1/x", "ftp://h", "", "https://", 7, None])


@fuzz(500)
@given(st.dictionaries(st.sampled_from(["firmware_url", "firmware_meta", "size", "checksum",
                                        "partials_checksums", "deployment_id"]), JSON),
       URL, st.dictionaries(st.sampled_from(["uuid", "version", "product", "platform",
                                             "architecture"]), JSON))
def test_update_payload(payload, url, fmeta):
    for p in (payload, dict(payload, firmware_url=url, firmware_meta=fmeta)):
        try:
            UpdateInfo.parse(json.loads(json.dumps(p)))
        except NervesHubError:
            pass


def test_good_archive_applies():
    assert EXPECTED != BEFORE
    assert EXPECTED[4 * 512:4 * 512 + len(PAYLOAD)] == PAYLOAD
    assert hashlib.sha256(EXPECTED).digest() != hashlib.sha256(BEFORE).digest()


@pytest.mark.parametrize("target", ["applier", "metaconf", "uboot_env"])
def test_atheris_target(target, tmp_path):
    # coverage-guided, seeded with a good signed archive; skipped when atheris is missing
    pytest.importorskip("atheris")
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.fw").write_bytes(GOOD)
    (corpus / "meta.conf").write_bytes(GOOD_META)
    (corpus / "env").write_bytes(bytes(uboot_env.encode({"a": "1"}, 64, True)) * 2)
    runs = 200000 if SOAK else 3000
    r = subprocess.run([sys.executable, "tests/survive/fuzz_atheris.py", target, str(corpus),
                        "-runs=%d" % runs, "-artifact_prefix=%s/" % tmp_path],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Done %d runs" % runs in r.stderr
