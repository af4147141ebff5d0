"""Hypothesis fuzz of the NervesKey driver: compressed certificates, OTP/config images and
arbitrary I2C responses only ever raise our own exceptions. SOAK=1 runs 10 000 examples each."""

import json
import os

from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nerves_hub_link.errors import NervesHubError
from nerves_hub_link.nerves_key import NervesKey, certs, config_zone
from nerves_hub_link.nerves_key.crc import crc_bytes

with open("tests/fixtures/nerves-key/vectors.json") as f:
    V = json.load(f)
SIGNER_PUB = bytes.fromhex(V["signer_public_key_raw"])
DEVICE_PUB = bytes.fromhex(V["device_public_key_raw"])
SN = bytes.fromhex(V["device_sn"])
SOAK = os.environ.get("SOAK") == "1"


def examples(ci):
    return 10000 if SOAK else ci


def compressed(trailer):
    return st.one_of(
        st.binary(min_size=0, max_size=80),
        st.tuples(st.binary(min_size=64, max_size=64), st.binary(min_size=3, max_size=3))
        .map(lambda t: t[0] + t[1] + trailer),
    )


@settings(max_examples=examples(300), deadline=None)
@given(compressed(certs.DEVICE_TRAILER), st.text(max_size=48))
def test_device_cert_fuzz(comp, mfg):
    try:
        der = certs.device_cert_der(comp, SN, mfg, DEVICE_PUB, SIGNER_PUB)
    except NervesHubError:
        return
    if comp[64:67] and certs.decode_dates(comp[64:67]).not_after()[1:3] == (2, 29):
        return  # 29 Feb + N years is kept verbatim (may not exist); strict parsers refuse it
    cert = x509.load_der_x509_certificate(der)
    assert cert.signature_hash_algorithm.name == "sha256"


@settings(max_examples=examples(300), deadline=None)
@given(compressed(certs.SIGNER_TRAILER))
def test_signer_cert_fuzz(comp):
    try:
        der = certs.signer_cert_der(comp, SIGNER_PUB)
    except NervesHubError:
        return
    if certs.decode_dates(comp[64:67]).not_after()[1:3] == (2, 29):
        return
    assert x509.load_der_x509_certificate(der).serial_number > 0


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(min_size=0, max_size=70))
def test_otp_and_config_fuzz(raw):
    for fn in (config_zone.parse_otp, config_zone.ConfigZone):
        try:
            fn(raw)
        except NervesHubError:
            pass


def group(payload):
    g = bytes((len(payload) + 3,)) + payload
    return g + crc_bytes(g)


RESPONSE = st.one_of(
    st.none(),  # NACK
    st.just(b"\x04\x11\x33\x43"),  # wake reply
    st.binary(max_size=70),  # noise
    st.binary(min_size=1, max_size=64).map(group),  # well-formed group, random payload
    st.sampled_from([1, 3, 5, 7, 8, 0x0F, 0x11, 0xEE, 0xFF, 0x42]).map(
        lambda s: group(bytes((s,)))),
    st.sampled_from([4, 32, 64]).flatmap(
        lambda n: st.binary(min_size=n, max_size=n)).map(group),
)


class FuzzBus:
    def __init__(self, responses, write_fails):
        self.responses = list(responses)
        self.write_fails = list(write_fails)
        self.now = 0

    def sleep_ms(self, ms):
        self.now += ms

    def ticks_ms(self):
        return self.now

    def writeto(self, addr, buf):
        if self.write_fails and self.write_fails.pop(0):
            raise OSError(5)

    def readfrom_into(self, addr, buf):
        if not self.responses:
            raise OSError(19)
        r = self.responses.pop(0)
        if r is None:
            raise OSError(19)
        r = (r + b"\xff" * len(buf))[:len(buf)]
        buf[:] = r


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RESPONSE, max_size=120), st.lists(st.booleans(), max_size=40),
       st.sampled_from(["device_cert", "signer_cert", "sign", "revision", "random",
                        "public_key", "aux"]), st.booleans())
def test_i2c_response_fuzz(responses, write_fails, op, shaped):
    if shaped:  # a good wake reply before each response gets the fuzz past the wake check
        responses = [r for x in responses for r in (b"\x04\x11\x33\x43", x)]
    bus = FuzzBus(responses, write_fails)
    nk = NervesKey(bus, bus.sleep_ms, bus.ticks_ms)
    try:
        if op == "device_cert":
            nk.device_cert()
        elif op == "signer_cert":
            nk.signer_cert()
        elif op == "sign":
            nk.sign_digest(bytes(32))
        elif op == "aux":
            nk.device_cert("aux")
        else:
            getattr(nk, op)()
    except NervesHubError:
        pass
