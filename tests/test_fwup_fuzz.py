"""Hypothesis: malformed input to the zip reader, meta.conf parser and U-Boot env codec only
ever raises our own exception family. ``SOAK=1`` runs >= 10,000 examples per property."""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nerves_hub_link.errors import NervesHubError
from nerves_hub_link.fwup import confuse, metaconf, uboot_env
from nerves_hub_link.fwup.applier import Applier
from nerves_hub_link.fwup.zipstream import ZipStream

SOAK = os.environ.get("SOAK") == "1"
FX = os.path.join(os.path.dirname(__file__), "fixtures", "fwup")
SETTINGS = settings(max_examples=10000 if SOAK else 400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

with open(os.path.join(FX, "N_negative", "signed.fw"), "rb") as f:
    FW = f.read()
with open(os.path.join(FX, "F07_multi_resource", "meta.conf"), "rb") as f:
    META = f.read()


class _All:
    def on_entry(self, e):
        e.limit = 1 << 20
        return True

    def on_data(self, e, chunk):
        pass

    def on_entry_end(self, e):
        pass

    def on_end(self, err):
        pass


def _mutate(base, data):
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)),
                               max_size=8))
    b = bytearray(base)
    for pos, val in edits:
        b[pos] = val
    cut = data.draw(st.integers(0, len(b)))
    return bytes(b[:cut])


def _feed_zip(blob, piece):
    z = ZipStream(_All())
    try:
        for i in range(0, len(blob), piece):
            z.feed(blob[i:i + piece])
        z.finish()
    except NervesHubError:
        pass


@SETTINGS
@given(st.binary(max_size=4096), st.integers(1, 5000))
def test_zip_reader_random_bytes(blob, piece):
    _feed_zip(b"PK\x03\x04" + blob, piece)


@SETTINGS
@given(st.data(), st.integers(1, 20000))
def test_zip_reader_mutated_archive(data, piece):
    _feed_zip(_mutate(FW, data), piece)


@SETTINGS
@given(st.data())
def test_applier_mutated_archive_on_ram_device(data):
    from support import RamBlockDevice

    blob = _mutate(FW, data)
    app = Applier(RamBlockDevice(256), "complete")
    try:
        app.feed(blob)
        app.finish()
    except NervesHubError:
        pass


@SETTINGS
@given(st.text(max_size=300))
def test_confuse_random_text(text):
    try:
        confuse.parse(text, env={"A": "b"})
    except NervesHubError:
        pass


@SETTINGS
@given(st.data())
def test_meta_conf_mutated(data):
    blob = _mutate(META, data)
    try:
        mc = metaconf.load(blob)
        metaconf.metadata_text(mc)
    except NervesHubError:
        pass


@SETTINGS
@given(st.binary(min_size=0, max_size=600), st.booleans())
def test_uboot_decode_random(blob, redundant):
    try:
        uboot_env.decode(blob, redundant)
    except NervesHubError:
        pass


@SETTINGS
@given(st.dictionaries(st.text("abcxyz_", min_size=1, max_size=8),
                       st.text(max_size=40), max_size=12), st.integers(16, 700))
def test_uboot_encode_decode_round_trip(env, size):
    try:
        img = uboot_env.encode(env, size)
    except NervesHubError:
        return
    assert uboot_env.decode(img) == env
