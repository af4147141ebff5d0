"""NervesKey <-> link on CPython: `nhl device --nerves-key-sim` joins the simulator with NH1
under the chip's manufacturer serial; certificate auth with the chip stops at start-up with
the shared-secret hint; the TLS sign callback's DER signature verifies with the device
certificate's key (simulated ATECC608A, `cryptography`)."""

import hashlib
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from nerves_hub_link.config import Config
from nerves_hub_link.nerves_key import link as nk_link
from nerves_hub_link.nerves_key_identity import NervesKeyHAL, setup
from nhl.hub.testing import device_config
from nhl_port.device import CPythonHAL

CHIP = "tests/fixtures/nerves-key/vectors.json"
with open(CHIP) as _f:
    CHIP_ID = json.load(_f)["manufacturer_sn"]


def _edit(path, fn):
    with open(path) as f:
        data = json.load(f)
    fn(data)
    with open(path, "w") as f:
        json.dump(data, f)
    return path


def test_nh1_join_under_the_chips_manufacturer_serial(hub, run_device, tmp_path):
    cfg = device_config(hub, str(tmp_path), "nk", auth="shared_secret")
    _edit(cfg, lambda d: d["shared_secret"].pop("identifier"))
    dev = run_device("cpython", cfg, "--nerves-key-sim", CHIP)
    dev.wait_line(r"nerves_key: NervesKey on simulated chip .* identifier %s, auth: shared "
                  r"secret$" % CHIP_ID)
    dev.wait_line(r"/device-socket/websocket\?vsn=2\.0\.0$")
    dev.wait_line(r"^nhl: joined: device$")
    rec = hub.device(CHIP_ID)
    assert rec is not None and rec.auth == "shared_secret"
    hub.wait(lambda s: s.devices[CHIP_ID].heartbeats >= 2, what="heartbeats")
    assert hub.device("device-1") is None


def test_configured_identifier_wins_over_the_chip(hub, run_device, tmp_path):
    cfg = device_config(hub, str(tmp_path), "nk-id", auth="shared_secret", identifier="dev-own")
    dev = run_device("cpython", cfg, "--nerves-key-sim", CHIP)
    dev.wait_line(r"^nhl: joined: device$")
    assert hub.device("dev-own").auth == "shared_secret"
    assert hub.device(CHIP_ID) is None


def test_nerves_key_options_from_the_config_file(hub, run_device, tmp_path):
    # "sim" relative to the config file, NervesHubLink's option names
    with open(CHIP) as f:
        (tmp_path / "chip.json").write_text(f.read())
    cfg = device_config(hub, str(tmp_path), "nk-file", auth="shared_secret",
                        nerves_key={"sim": "chip.json", "certificate_pair": "primary"})
    _edit(cfg, lambda d: d["shared_secret"].pop("identifier"))
    dev = run_device("cpython", cfg)
    dev.wait_line(r"^nhl: joined: device$")
    assert hub.device(CHIP_ID).auth == "shared_secret"


def test_certificate_auth_on_cpython_stops_with_the_shared_secret_hint(hub, run_device,
                                                                       tmp_path):
    cfg = device_config(hub, str(tmp_path), "nk-cert")
    _edit(cfg, lambda d: (d.pop("cert"), d.pop("key")))
    dev = run_device("cpython", cfg, "--nerves-key-sim", CHIP)
    assert dev.wait_exit() == 2
    line = dev.wait_line(r"^nhl: error: config: nerves_key: ")
    for word in ("cannot", "MICROPY_PY_SSL_ECDSA_SIGN_ALT", '"shared_secret"', CHIP_ID):
        assert word in line, (word, line)
    assert dev.count(r"^nhl: connecting") == 0


def test_micropython_unix_port_without_a_chip_bus_is_a_config_error(hub, run_device,
                                                                    tmp_path):
    cfg = device_config(hub, str(tmp_path), "nk-mp", auth="shared_secret",
                        nerves_key={"bus": 1})
    dev = run_device("micropython", cfg)
    assert dev.wait_exit() == 2
    line = dev.wait_line(r"^nhl: error: config: ")
    assert "cannot open a NervesKey" in line, line


def test_tls_sign_callback_signature_verifies(monkeypatch, tmp_path):
    # the fake stands for a MICROPY_PY_SSL_ECDSA_SIGN_ALT=1 tls.SSLContext
    class Ctx:
        ecdsa_sign_callback = None

        def __init__(self):
            self.loaded = []

        def load_cert_chain(self, cert, key):
            self.loaded.append((cert, key))

    class TLS:
        def __init__(self):
            self.context = Ctx()

    class HAL(CPythonHAL):
        def tls_context(self, ca, cert=None, key=None, server_name=None):
            return TLS()

    monkeypatch.setattr(nk_link, "sys", type("S", (), {"implementation": type(
        "I", (), {"name": "micropython"})}))
    cfg = Config.from_dict({"host": "h", "ca_certs": "ca", "nerves_key": {"sim": CHIP}})
    cfg, link_hal = setup(cfg, HAL(str(tmp_path)))
    assert isinstance(link_hal, NervesKeyHAL) and cfg.identifier == CHIP_ID
    ctx = link_hal.tls_context([b"ca"], None, None, "h").context
    device_der, key_der = ctx.loaded[0]
    assert key_der == nk_link.PLACEHOLDER_KEY_DER
    cert = x509.load_der_x509_certificate(device_der)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == CHIP_ID
    for algo, h in ((hashes.SHA256(), hashlib.sha256(b"CertificateVerify").digest()),
                    (hashes.SHA384(), hashlib.sha384(b"CertificateVerify").digest())):
        sig = ctx.ecdsa_sign_callback(bytearray(nk_link.PLACEHOLDER_SCALAR), bytearray(h))
        cert.public_key().verify(sig, h, ec.ECDSA(Prehashed(algo)))
    assert ctx.ecdsa_sign_callback(bytearray(32), bytearray(32)) is None
    assert sys.implementation.name == "cpython"  # only the driver module saw the fake name
