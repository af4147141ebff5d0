# heapsize: 256K
# The NervesKey as the link's identity (nerves_key_identity): config options, the chip's
# manufacturer serial as identifier, and client-certificate TLS through a fake
# tls.SSLContext that has ecdsa_sign_callback (MICROPY_PY_SSL_ECDSA_SIGN_ALT=1 builds), with
# the chip double signing. Platforms that cannot delegate (the real tls/ssl module here) stop
# with a ConfigError that points to the shared-secret path.
import sys

from atecc_double import AteccDouble, Clock, load_vectors
from nerves_hub_link import log
from nerves_hub_link.config import Config
from nerves_hub_link.errors import ConfigError, NervesKeyError
from nerves_hub_link.nerves_key import NervesKey
from nerves_hub_link.nerves_key import link as nk_link
from nerves_hub_link.nerves_key_identity import NervesKeyHAL, options, setup
from support import IS_MICROPYTHON, raises

V = load_vectors()
CHIP_ID = V["manufacturer_sn"]
SS = {"product_key": "nhp_k", "secret": "s3cret"}


def make_chip(address=0x60):
    clock = Clock()
    chip = AteccDouble(V, clock)
    return chip, NervesKey(chip, clock.sleep_ms, clock.ticks_ms, address)


class FakeSignCtx:
    """tls.SSLContext of a build with MICROPY_PY_SSL_ECDSA_SIGN_ALT=1 (what the link uses)."""

    def __init__(self):
        self.ecdsa_sign_callback = None
        self.loaded = []

    def load_cert_chain(self, cert, key):
        self.loaded.append((bytes(cert), bytes(key)))


class FakeTLS:
    def __init__(self, context, args):
        self.context = context
        self.args = args


class FakeHAL:
    name = "fake"

    def __init__(self, ctx_factory=FakeSignCtx, nk=None):
        self.ctx_factory = ctx_factory
        self.nk = nk
        self.opened = []
        self.contexts = []

    def tls_context(self, ca, cert=None, key=None, server_name=None):
        t = FakeTLS(self.ctx_factory(), (ca, cert, key, server_name))
        self.contexts.append(t)
        return t

    def nerves_key(self, opts):
        self.opened.append(opts)
        return self.nk

    def ticks_ms(self):
        return 1234


def platform_ctx():
    # The interpreter's own context class: stock builds cannot delegate signing.
    try:
        import tls

        return tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    except ImportError:
        import ssl

        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class _MicroPythonSys:
    class implementation:
        name = "micropython"


def as_micropython(fn, *args):
    # configure_tls_context refuses CPython's ssl by interpreter name; the fake context stands
    # for a MicroPython one, so on CPython run the same path under that name.
    if IS_MICROPYTHON:
        return fn(*args)
    nk_link.sys = _MicroPythonSys
    try:
        return fn(*args)
    finally:
        nk_link.sys = sys


def quiet(fn, *args):
    lines = []
    old = log.set_sink(lines.append)
    try:
        return fn(*args), lines
    finally:
        log.set_sink(old)


def cfg(**kw):
    base = {"host": "hub.example", "ca_certs": "ca.der", "nerves_key": {"bus": 1}}
    base.update(kw)
    return Config.from_dict(base)


# ---- options ---------------------------------------------------------------------------

def test_options_defaults_and_nerves_hub_link_names():
    assert options({"bus": 2}) == {"bus": 2, "address": 0x60, "pair": "primary"}
    assert options({"i2c_bus": "i2c-0", "certificate_pair": "aux"}) == {
        "bus": "/dev/i2c-0", "address": 0x60, "pair": "aux"}
    assert options({}) == {} and options(None) == {}


def test_options_bad_values_warn_and_default():
    out, lines = quiet(options, {"bus": -1, "address": 0x99, "pair": "tertiary", "speed": 9})
    assert out == {"bus": 1, "address": 0x60, "pair": "primary"}
    text = "\n".join(lines)
    for word in ("nerves_key.bus=-1", "nerves_key.address=153", "'tertiary'", "'speed'"):
        assert word in text, (word, text)


def test_config_keeps_normalised_options_and_sim_path_relative_to_file():
    c = Config.from_dict({"nerves_key": {"sim": "chip.json", "i2c_bus": 3}}, "/etc/nhl")
    assert c.nerves_key == {"bus": 3, "address": 0x60, "pair": "primary",
                            "sim": "/etc/nhl/chip.json"}
    assert Config.from_dict({"nerves_key": {"sim": "/abs/chip.json"}}, "/etc").nerves_key[
        "sim"] == "/abs/chip.json"


# ---- identity --------------------------------------------------------------------------

def test_without_nerves_key_nothing_changes_and_chip_is_not_touched():
    chip, nk = make_chip()
    hal = FakeHAL(nk=nk)
    c = Config.from_dict({"host": "h", "ca_certs": "ca", "shared_secret": SS})
    c2, hal2 = setup(c, hal)
    assert c2 is c and hal2 is hal and hal.opened == [] and chip.log == []
    assert c.device_identifier() == "unconfigured"


def test_shared_secret_identifier_is_the_chips_manufacturer_serial():
    chip, nk = make_chip()
    hal = FakeHAL(nk=nk)
    c = cfg(shared_secret=SS, nerves_key={"i2c_bus": 2, "address": 0x60})
    (c2, hal2), lines = quiet(setup, c, hal)
    assert hal.opened == [{"bus": 2, "address": 0x60, "pair": "primary"}]
    assert hal2 is hal  # NH1 path: TLS only verifies the server, no chip in TLS
    assert c2.identifier == CHIP_ID == "AERWYGS6IKOQP3Q"
    assert c2.device_identifier() == CHIP_ID
    assert c2.endpoint()[3] == "/device-socket/websocket"
    assert any(CHIP_ID in x and "shared secret" in x for x in lines), lines


def test_configured_identifier_wins_over_the_chip():
    for kw in ({"identifier": "serial-7"},
               {"shared_secret": dict(SS, identifier="serial-7")}):
        chip, nk = make_chip()
        if "shared_secret" not in kw:
            kw["shared_secret"] = SS
        c, _ = quiet(setup, cfg(**kw), FakeHAL(nk=nk))[0]
        assert c.device_identifier() == "serial-7"


def test_port_without_nerves_key_support_is_a_config_error():
    class Bare:
        name = "bare"

        def tls_context(self, *a):
            raise AssertionError("not reached")

    e = raises(ConfigError, setup, cfg(shared_secret=SS), Bare())
    assert "bare" in str(e) and "nk=" in str(e)


def test_absent_chip_raises_the_chip_error():
    chip, nk = make_chip(address=0x61)  # nobody answers there
    e = raises(NervesKeyError, quiet, setup, cfg(shared_secret=SS), FakeHAL(nk=nk))
    assert not isinstance(e, ConfigError) and "ACK" in str(e), str(e)


# ---- certificate auth: the chip signs the TLS handshake --------------------------------

def _der_sig(raw):
    # DER SEQUENCE{r, s} from R||S, written out independently of the driver.
    def integer(b):
        b = bytes(b).lstrip(b"\x00") or b"\x00"
        if b[0] & 0x80:
            b = b"\x00" + b
        return bytes((2, len(b))) + b

    body = integer(raw[:32]) + integer(raw[32:])
    return bytes((0x30, len(body))) + body


def test_certificate_auth_installs_sign_callback_with_placeholder_key():
    chip, nk = make_chip()
    chip.sign_reply = bytes(range(1, 65))
    hal = FakeHAL(nk=nk)
    c = cfg()
    (c2, link_hal), lines = quiet(as_micropython, setup, c, hal)
    assert isinstance(link_hal, NervesKeyHAL)
    assert c2.identifier == CHIP_ID and c2.endpoint()[3] == "/socket/websocket"
    device_der = nk.device_cert()
    # what the link does for each connection: no client cert in the config
    t = as_micropython(link_hal.tls_context, [b"ca"], None, None, "hub.example")
    assert t.args == ([b"ca"], None, None, "hub.example")  # the HAL still verifies the server
    ctx = t.context
    assert ctx.loaded == [(device_der, nk_link.PLACEHOLDER_KEY_DER)]
    cb = ctx.ecdsa_sign_callback
    digest = bytes(range(100, 132))
    chip.groups = []
    sig = cb(bytearray(nk_link.PLACEHOLDER_SCALAR), bytearray(digest))
    assert sig == _der_sig(chip.sign_reply)
    nonce = [g for g in chip.groups if g[1] == 0x16]  # Nonce pass-through of the digest
    assert nonce and bytes(nonce[-1][2:4]) == b"\x03\x00" and bytes(nonce[-1][5:37]) == digest
    assert cb(bytearray(b"\x07" * 32), bytearray(digest)) is None  # any other key: mbedTLS
    assert any("auth: certificate" in x for x in lines), lines


def test_sign_callback_truncates_sha384_to_leftmost_256_bits():
    chip, nk = make_chip()
    link_hal = quiet(as_micropython, setup, cfg(), FakeHAL(nk=nk))[0][1]
    cb = as_micropython(link_hal.tls_context, None, None, None, "h").context.ecdsa_sign_callback
    h384 = bytes(range(48))
    chip.groups = []
    cb(bytearray(nk_link.PLACEHOLDER_SCALAR), bytearray(h384))
    nonce = [g for g in chip.groups if g[1] == 0x16][-1]
    assert bytes(nonce[5:37]) == h384[:32]


def test_configured_client_certificate_is_passed_through():
    chip, nk = make_chip()
    link_hal = quiet(as_micropython, setup, cfg(), FakeHAL(nk=nk))[0][1]
    t = link_hal.tls_context([b"ca"], b"cert", b"key", "h")
    assert t.args == ([b"ca"], b"cert", b"key", "h") and t.context.loaded == []
    assert link_hal.ticks_ms() == 1234  # everything else is the wrapped HAL


def test_configured_cert_wins_over_the_chip_certificate():
    chip, nk = make_chip()
    hal = FakeHAL(nk=nk)
    c, link_hal = quiet(setup, cfg(cert="dev.der", key="dev-key.der"), hal)[0]
    assert link_hal is hal and c.identifier == CHIP_ID


def test_stack_without_sign_callback_points_to_shared_secret_with_chip_identity():
    chip, nk = make_chip()
    hal = FakeHAL(ctx_factory=platform_ctx, nk=nk)
    e = raises(ConfigError, quiet, setup, cfg(), hal)
    text = str(e)
    for word in ("cannot", "MICROPY_PY_SSL_ECDSA_SIGN_ALT", '"shared_secret"', "nhp_", CHIP_ID):
        assert word in text, (word, text)
    # the reason names the stack: MicroPython without the callback, or CPython's ssl
    assert ("build has no tls.SSLContext.ecdsa_sign_callback" if IS_MICROPYTHON
            else "cpython's TLS cannot") in text, text
    assert chip.groups and hal.contexts  # certificates read, then the trial context refused
