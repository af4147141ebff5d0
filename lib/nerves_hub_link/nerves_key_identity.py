"""The NervesKey as the link's identity: NH1 identifier and client-certificate TLS.

``setup(config, hal, nk=None)`` runs before ``link.make_device`` when ``config.nerves_key``
is set (``nhl device`` and ``boards/unix/main.py`` call it) and returns ``(config, hal)``:

* Identifier: when neither ``identifier`` nor ``shared_secret.identifier`` is configured,
  ``config.identifier`` becomes the chip's manufacturer serial (the device certificate's CN,
  what NervesHubLink devices report), so NH1 headers are signed for it. Key and secret
  never come from the chip: they are the configured ``shared_secret`` (spec §2.2).
* Certificate auth (no ``shared_secret`` and no ``cert`` in the config): the returned HAL is
  a ``NervesKeyHAL`` whose TLS contexts carry the chip's device certificate with the public
  placeholder key and ``tls.SSLContext.ecdsa_sign_callback`` letting the chip sign
  (``nerves_key.link.configure_tls_context``); the private key never leaves the chip. This
  needs a MicroPython build with ``MICROPY_PY_SSL_ECDSA_SIGN_ALT=1``; on stock MicroPython
  and on CPython ``ssl`` start-up stops with a ``ConfigError`` that shows the shared-secret
  config to use instead. A configured ``cert``/``key`` wins over the chip's certificate.

The chip comes from ``nk`` or from the port: ``hal.nerves_key(options)`` (the CPython HAL
opens ``/dev/i2c-N`` or, with ``"sim"``, the simulated ATECC608A). Options (``nerves_key``
in the device config, NervesHubLink's names accepted as aliases)::

    {"bus": 1 | "/dev/i2c-1", "address": 96, "pair": "primary" | "aux", "sim": "chip.json"}

Largest buffer: the device certificate DER (about 400 bytes), cached by the NervesKey.
"""

from nerves_hub_link import log
from nerves_hub_link.errors import ConfigError, NervesKeyError

DEFAULTS = {"bus": 1, "address": 0x60, "pair": "primary"}
ALIASES = {"i2c_bus": "bus", "certificate_pair": "pair", "i2c_address": "address"}
PAIRS = ("primary", "aux")

SHARED_SECRET_EXAMPLE = (
    'add "shared_secret": {"product_key": "nhp_...", "secret": "..."} next to "nerves_key"; '
    "the identifier is then the chip's manufacturer serial %s")


def _is_int(v):
    return isinstance(v, int) and not (v is True or v is False)


def options(value, base_dir=None):
    """Normalised ``nerves_key`` options; bad values are warned about and defaulted.

    An empty mapping stays empty (no NervesKey). A relative ``sim`` path is taken
    relative to *base_dir* (the config file's directory).
    """
    if not isinstance(value, dict) or not value:
        return {}
    out = dict(DEFAULTS)
    for name in value:
        key = ALIASES.get(name, name)
        v = value[name]
        if key == "bus":
            if isinstance(v, str) and v.startswith("i2c-"):
                v = "/dev/" + v  # NervesHubLink's bus names
            if not (_is_int(v) and v >= 0) and not (isinstance(v, str) and v):
                log.warning("config: nerves_key.bus=%r is not a bus number or device path;"
                            " using %r", v, DEFAULTS["bus"])
                continue
        elif key == "address":
            if not _is_int(v) or not 0x08 <= v <= 0x77:
                log.warning("config: nerves_key.address=%r is not a 7-bit I2C address;"
                            " using 0x%02x", v, DEFAULTS["address"])
                continue
        elif key == "pair":
            if v not in PAIRS:
                log.warning("config: nerves_key.pair=%r is not primary or aux; using primary", v)
                continue
        elif key == "sim":
            if not isinstance(v, str) or not v:
                log.warning("config: nerves_key.sim=%r is not a file name; ignored", v)
                continue
            if base_dir and not v.startswith("/"):
                v = base_dir.rstrip("/") + "/" + v
        else:
            log.warning("config: unknown nerves_key option %r ignored", name)
            continue
        out[key] = v
    return out


def open_chip(hal, opts):
    """The NervesKey the port opens for *opts* (``hal.nerves_key(opts)``)."""
    opener = getattr(hal, "nerves_key", None)
    if opener is None:
        raise ConfigError("nerves_key is set but this port (%s) cannot open a NervesKey"
                          % getattr(hal, "name", type(hal).__name__),
                          hint="pass the chip to setup(config, hal, nk=NervesKey(...)) or "
                               "give the HAL a nerves_key(options) method")
    return opener(opts)


def explicit_identifier(config):
    """The identifier set in the config (shared_secret.identifier, then identifier)."""
    return config.shared_secret.get("identifier") or config.identifier


def apply_identity(config, nk):
    """Use the chip's manufacturer serial as identifier unless one is configured.

    Returns the identifier the link will use.
    """
    from nerves_hub_link.nerves_key import link as nk_link

    chip_id = nk_link.identifier(nk)
    given = explicit_identifier(config)
    if given:
        if given != chip_id:
            log.info("nerves_key: configured identifier %s is used, not the chip's %s",
                     given, chip_id)
        return given
    config.identifier = chip_id
    return chip_id


def uses_chip_certificate(config):
    """True when the link should authenticate with the chip's certificate."""
    return not config.uses_shared_secret() and not config.cert


class NervesKeyHAL:
    """A HAL whose TLS contexts authenticate with the NervesKey; everything else is the
    wrapped HAL's.

    A context asked for without a client certificate gets the chip's device certificate,
    the placeholder key and the sign callback (servers that do not ask for a client
    certificate, like firmware download hosts, never see it).
    """

    def __init__(self, hal, nk, pair="primary"):
        self.hal = hal
        self.nk = nk
        self.pair = pair

    def __getattr__(self, name):
        return getattr(self.hal, name)

    def tls_context(self, ca_certs_der, cert_der=None, key_der=None, server_name=None):
        if cert_der is not None or key_der is not None:
            return self.hal.tls_context(ca_certs_der, cert_der, key_der, server_name)
        from nerves_hub_link.nerves_key import link as nk_link

        t = self.hal.tls_context(ca_certs_der, None, None, server_name)
        nk_link.configure_tls_context(getattr(t, "context", t), self.nk, self.pair)
        return t


def chip_tls(config, hal, nk, pair="primary"):
    """``NervesKeyHAL(hal, nk, pair)`` once a trial context shows that the TLS stack lets
    the chip sign; else ConfigError pointing to the shared-secret path."""
    nk.device_cert(pair)  # chip errors surface here; the certificate is cached after
    wrapped = NervesKeyHAL(hal, nk, pair)
    try:
        wrapped.tls_context(None, None, None, config.server_name())
    except NervesKeyError as e:
        raise ConfigError(
            "nerves_key: certificate auth needs the chip to sign the TLS handshake, and this "
            "TLS stack cannot: %s" % e.message,
            hint="use a MicroPython build with MICROPY_PY_SSL_ECDSA_SIGN_ALT=1, or the NH1 "
                 "shared-secret path with the chip's identity: "
                 + SHARED_SECRET_EXAMPLE % nk.manufacturer_sn())
    return wrapped


def setup(config, hal, nk=None):
    """Apply ``config.nerves_key``: returns ``(config, hal)`` for ``make_device``.

    Without NervesKey options both come back unchanged and the chip is never touched.
    """
    opts = options(config.nerves_key)
    if not opts and nk is None:
        return config, hal
    if not opts:
        opts = dict(DEFAULTS)
    if nk is None:
        nk = open_chip(hal, opts)
    ident = apply_identity(config, nk)
    mode = "certificate" if uses_chip_certificate(config) else (
        "shared secret" if config.uses_shared_secret() else "configured certificate")
    where = "simulated chip %s" % opts["sim"] if opts.get("sim") else "bus %s" % opts["bus"]
    log.info("nerves_key: %s on %s address 0x%02x, identifier %s, auth: %s",
             nk.board_name(), where, opts["address"], ident, mode)
    if mode == "certificate":
        hal = chip_tls(config, hal, nk, opts["pair"])
    return config, hal
