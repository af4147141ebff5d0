"""NervesKey on CPython against the cryptography-backed ATECC simulator: exact vectors,
certificates verified with `cryptography`, on-chip signatures, watchdog, 508A vs 608,
the TLS sign callback, the Linux I2C adapter and `nhl nerves-key`."""

import hashlib
import json

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import load_der_private_key
from nerves_hub_link.errors import ConfigError, NervesKeyError
from nerves_hub_link.nerves_key import NervesKey, commands, link
from nerves_hub_link.nerves_key.crc import crc_bytes
from nerves_hub_link.nerves_key.errors import (
    ExecutionError,
    NoAckError,
    StatusError,
    WatchdogError,
)
from nhl_port.atecc_sim import AteccSim, SimClock
from nhl_port.i2c_linux import LinuxI2C, bus_number

VECTORS = "tests/fixtures/nerves-key/vectors.json"


@pytest.fixture
def vectors():
    with open(VECTORS) as f:
        return json.load(f)


def make(src=VECTORS, **kw):
    clock = SimClock()
    sim = AteccSim.from_json(src, clock=clock, **kw)
    return sim, clock, NervesKey(sim, clock.sleep_ms, clock.ticks_ms)


def frames(log):
    return [b for kind, addr, b in log if kind == "w" and addr == 0x60 and b[:1] == b"\x03"]


def test_vectors_frames_and_certificates(vectors):
    sim, clock, nk = make()
    assert sim.public_key().hex() == vectors["device_public_key_raw"]
    assert nk.device_cert().hex() == vectors["expected"]["device_cert_der"]
    want = [bytes.fromhex(e["i2c_write"]) for e in vectors["transport_log"]
            if e["flow"] == "device_cert"]
    assert frames(sim.log) == want
    # every response the driver read equals the payload the Elixir transport received
    payloads = [bytes.fromhex(e["response_payload"]) for e in vectors["transport_log"]
                if e["flow"] == "device_cert"]
    replies = [b for kind, addr, b in sim.log if kind == "r" and b != b"\x04\x11\x33\x43"]
    assert [r[1:1 + len(p)] for r, p in zip(replies, payloads, strict=True)] == payloads
    sim2, _, nk2 = make()
    assert nk2.signer_cert().hex() == vectors["expected"]["signer_cert_der"]
    assert [f[2:-2].hex() for f in frames(sim2.log)] == [
        e["payload"] for e in vectors["transport_log"] if e["flow"] == "signer_cert"]


def test_certificates_parse_and_chain(vectors):
    sim, clock, nk = make()
    device = x509.load_der_x509_certificate(nk.device_cert())
    signer = x509.load_der_x509_certificate(nk.signer_cert())
    assert device.serial_number == 0x4F2F4FDF2C2D3C2F86356BF4F9CA71F0
    assert signer.serial_number == 0x7B75C706077BBBB80EDFCBF540B580BC
    cn = device.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == vectors["manufacturer_sn"]
    device.verify_directly_issued_by(signer)
    signer.verify_directly_issued_by(signer)
    ski = signer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski.digest.hex() == "cad63ca7ad65ea07f2fc100d7f581942e37a37f7"


@pytest.mark.parametrize("raw", [False, True])
def test_sign_digest_verifies_with_device_key(raw):
    sim, clock, nk = make()
    pub = x509.load_der_x509_certificate(nk.device_cert()).public_key()
    for msg in (b"abc", b"nerves", b"x" * 1000):
        digest = hashlib.sha256(msg).digest()
        sig = nk.sign_digest(digest, raw=raw)
        if raw:
            from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

            assert len(sig) == 64
            sig = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                       int.from_bytes(sig[32:], "big"))
        pub.verify(sig, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        with pytest.raises(InvalidSignature):
            pub.verify(sig, hashlib.sha256(b"other").digest(), ec.ECDSA(Prehashed(hashes.SHA256())))


def test_sign_needs_one_wake_window():
    sim, clock, nk = make()
    t = nk.transport
    with t.transaction():
        commands.nonce_passthrough(t, bytes(32))
    with t.transaction():  # Sleep in between erased TempKey
        with pytest.raises(ExecutionError):
            commands.sign_external(t, 0)


def test_idle_keeps_tempkey():
    sim, clock, nk = make()
    t = nk.transport
    t.wake()
    commands.nonce_passthrough(t, bytes(32))
    t.idle()
    t.wake()
    assert len(commands.sign_external(t, 0)) == 64
    t.sleep()


def test_tls_callback_signature_verifies():
    sim, clock, nk = make()
    pub = x509.load_der_x509_certificate(nk.device_cert()).public_key()
    cb = link.tls_ecdsa_sign_callback(nk)
    placeholder = load_der_private_key(link.PLACEHOLDER_KEY_DER, None)
    scalar = placeholder.private_numbers().private_value.to_bytes(32, "big")
    assert scalar == link.PLACEHOLDER_SCALAR
    h = hashlib.sha256(b"handshake").digest()
    sig = cb(bytearray(scalar), bytearray(h))
    pub.verify(sig, h, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert cb(bytearray(b"\x01" * 32), bytearray(h)) is None
    h384 = hashlib.sha384(b"handshake").digest()  # mbedTLS may hand over SHA-384
    pub.verify(cb(bytearray(scalar), h384), h384, ec.ECDSA(Prehashed(hashes.SHA384())))


def test_tls_context_refused_on_cpython():
    sim, clock, nk = make()
    import ssl

    with pytest.raises(NervesKeyError) as ei:
        link.configure_tls_context(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), nk)
    assert "shared secret" in str(ei.value)
    mat = link.tls_material(nk)
    assert mat["key"] == link.PLACEHOLDER_KEY_DER and len(mat["chain"]) == 1


def test_watchdog_status_0xee_from_chip():
    sim, clock, nk = make()
    t = nk.transport
    with t.transaction():
        clock.sleep_ms(1250)  # GenKey (max 115 ms) no longer fits before 1300 ms
        with pytest.raises(WatchdogError) as ei:
            commands.genkey_public(t, 0)
    assert ei.value.status == 0xEE


def test_watchdog_sleep_detected():
    sim, clock, nk = make()
    t = nk.transport
    with t.transaction():
        clock.sleep_ms(1300)
        with pytest.raises(WatchdogError) as ei:
            commands.info(t)
    assert sim.state == "sleep" and "watchdog has expired" in str(ei.value)


def test_508a_rejects_608_only_modes_but_signs(vectors):
    img = json.loads(json.dumps(vectors))
    cfg = bytearray.fromhex(img["chip_image"]["config_zone"])
    cfg[4:8] = b"\x00\x00\x50\x00"
    img["chip_image"]["config_zone"] = cfg.hex()
    sim, clock, nk = make(img)
    assert nk.device_type() == "ATECC508A" and nk.transport.timing is commands.TIMING_508A
    t = nk.transport
    with t.transaction():
        with pytest.raises(StatusError) as ei:
            commands.nonce_passthrough(t, bytes(32), commands.NONCE_TARGET_MSGDIGEST)
    assert ei.value.status == 0x03
    pub = ec.EllipticCurvePublicNumbers(
        int.from_bytes(nk.public_key()[:32], "big"), int.from_bytes(nk.public_key()[32:], "big"),
        ec.SECP256R1()).public_key()
    d = hashlib.sha256(b"508").digest()
    pub.verify(nk.sign_digest(d), d, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_608_message_digest_buffer_flow():
    sim, clock, nk = make()
    t = nk.transport
    d = hashlib.sha256(b"608").digest()
    with t.transaction():
        commands.nonce_passthrough(t, d, commands.NONCE_TARGET_MSGDIGEST)
        rs = commands.sign_external(t, 0, commands.SIGN_SOURCE_MSGDIGEST)
    assert frames(sim.log)[-2:] == [
        b"\x03\x27\x16\x43\x00\x00" + d + crc_bytes(b"\x27\x16\x43\x00\x00" + d),
        bytes.fromhex("0307" "41a00000" "7b85")]
    assert len(rs) == 64


def test_unlocked_chip_random_pattern_and_unprovisioned(vectors):
    img = json.loads(json.dumps(vectors))
    cfg = bytearray.fromhex(img["chip_image"]["config_zone"])
    cfg[86] = cfg[87] = 0x55
    img["chip_image"]["config_zone"] = cfg.hex()
    sim, clock, nk = make(img)
    assert nk.random() == b"\xff\xff\x00\x00" * 8
    assert not nk.provisioned() and nk.config().provisioning_mode == "unprovisioned"
    with pytest.raises(NervesKeyError, match="not provisioned"):
        nk.manufacturer_sn()


def test_bad_command_crc_is_status_0xff_and_retried():
    sim, clock, nk = make()
    sim.faults = [("status", 0xFF), "crc", "nack"]
    assert nk.revision() == bytes.fromhex("00006002")
    assert nk.transport.retries == 3


def test_wrong_address_missing_ack():
    sim, clock, nk = make(address=0x35)
    with pytest.raises(NoAckError, match="0x60 after the wake pulse"):
        nk.serial_number()
    assert clock.now <= 1100  # retry budget respected


class FakeSMBus:
    def __init__(self, reply=b""):
        self.msgs = []
        self.reply = reply

    def i2c_rdwr(self, *msgs):
        for m in msgs:
            self.msgs.append((m.addr, m.flags, m.len))
            if m.flags & 1:  # I2C_M_RD
                for i, b in enumerate(self.reply[:m.len]):
                    m.buf[i] = bytes((b,))
            else:
                assert m.addr != 0 or bytes(m) == b"\x00"
                if m.addr == 0:
                    raise OSError(121, "Remote I/O error")

    def close(self):
        pass


def test_linux_i2c_adapter():
    assert bus_number("/dev/i2c-1") == 1 and bus_number("i2c-3") == 3 and bus_number(2) == 2
    with pytest.raises(ConfigError):
        bus_number("eth0")
    fake = FakeSMBus(reply=b"\x04\x11\x33\x43")
    bus = LinuxI2C(1, smbus=fake)
    bus.wake()
    bus.writeto(0x60, bytearray(b"\x03\x07"))
    buf = bytearray(4)
    bus.readfrom_into(0x60, buf)
    assert buf == b"\x04\x11\x33\x43"
    assert fake.msgs == [(0, 0, 1), (0x60, 0, 2), (0x60, 1, 4)]


def test_cli_export_and_info(tmp_path, vectors, capsys):
    from nhl.cli import main

    assert main(["nerves-key", "--sim", VECTORS, "export", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "device.pem").read_text().strip() == \
        vectors["expected"]["device_cert_pem"].strip()
    assert (tmp_path / "signer.pem").read_text().strip() == \
        vectors["expected"]["signer_cert_pem"].strip()
    assert main(["nerves-key", "--sim", VECTORS, "info"]) == 0
    out = capsys.readouterr().out
    assert "AERWYGS6IKOQP3Q" in out and "01236C1A5E429D07EE" in out and "ATECC608" in out
    assert main(["nerves-key", "--sim", VECTORS, "export", "--pair", "aux",
                 "--out", str(tmp_path / "aux")]) == 1
    assert "slot is empty" in capsys.readouterr().err
