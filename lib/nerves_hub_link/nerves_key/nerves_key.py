"""High-level NervesKey API: identity, certificates and signing with the slot-0 key.

Reads happen in the Elixir driver's order, one wake/Sleep request per block. The config
zone, OTP, device public key and the read-only primary slots are cached (they cannot
change once provisioned); aux slots are re-read every time.
Largest buffer: one rebuilt certificate (< 600 bytes).
"""

from . import certs, commands, der
from .config_zone import (
    DEVICE_CERT_SLOT,
    PRIVATE_KEY_SLOT,
    SIGNER_CERT_SLOT,
    SIGNER_PUBKEY_SLOT,
    ConfigZone,
    base32,
    check_pair,
    parse_otp,
)
from .errors import ExecutionError, NervesKeyError, NotProvisionedError
from .transport import ADDRESS, Transport

_CACHED_SLOTS = (10, 11, 12, 13)


class NervesKey:
    """A NervesKey on an I2C bus.

    ``i2c`` is a HAL I2C (``writeto``/``readfrom_into``, optional ``wake``) -- see
    ``nerves_key.bus`` for MicroPython/CircuitPython adapters and
    ``nhl_port.i2c_linux`` for Linux. ``sleep_ms``/``ticks_ms`` (and ``ticks_diff`` where
    ticks wrap) are the port's clock.
    """

    def __init__(self, i2c, sleep_ms, ticks_ms, address=ADDRESS, ticks_diff=None, transport=None):
        self.transport = transport or Transport(i2c, sleep_ms, ticks_ms, address, ticks_diff)
        self._config = None
        self._otp = None
        self._pub = None
        self._slots = {}

    # -- identity -----------------------------------------------------------------------
    def config(self):
        """The parsed config zone (``ConfigZone``); also selects the chip's timing table."""
        if self._config is None:
            self._config = ConfigZone(commands.read_zone(self.transport, commands.ZONE_CONFIG))
            self.transport.timing = commands.timing_for(self._config)
        return self._config

    def detected(self):
        """True when a chip answers the wake pulse (then it is sent back to sleep)."""
        try:
            with self.transport.transaction():
                return True
        except NervesKeyError:
            return False

    def revision(self):
        """4-byte Info revision (byte 2: 0x50 ATECC508A, 0x60 ATECC608)."""
        return self.transport.request(commands.info)

    def device_type(self):
        return self.config().device_type

    def device_sn(self):
        """The chip's 9-byte serial number."""
        return self.config().serial_number

    def serial_number(self):
        """The chip's serial number as 18 upper-case hex digits."""
        return "".join("%02X" % b for b in self.device_sn())

    def provisioned(self):
        """NervesKey's ``provisioned?``: the data/OTP zone is locked (LockValue 0x00)."""
        return self.config().provisioned

    def lock_status(self):
        """``{"config": bool, "data": bool, "slot0": bool}`` (True = locked)."""
        return self.config().lock_status()

    def _require_provisioned(self):
        cfg = self.config()
        if not cfg.provisioned:
            raise NotProvisionedError(
                "NervesKey is not provisioned: LockValue is 0x%02x (config zone %s)"
                % (cfg.lock_value, "locked" if cfg.config_locked else "unlocked"),
                hint="provision it (mix nerves_key.provision) before reading certificates")
        return cfg

    def otp_info(self):
        """``OtpInfo`` (board name, manufacturer serial) from the OTP zone."""
        if self._otp is None:
            raw = self._locked_read(commands.read_zone, commands.ZONE_OTP)
            self._otp = parse_otp(raw)
        return self._otp

    def _locked_read(self, fn, arg):
        # OTP and data reads fail with status 0x0F until provisioning locks them; say so.
        if self._config is not None:
            self._require_provisioned()
        try:
            return fn(self.transport, arg)
        except ExecutionError:
            self._require_provisioned()
            raise

    def manufacturer_sn(self):
        """The manufacturer serial number (the device certificate's CN, NervesHub identifier)."""
        return self.otp_info().manufacturer_sn

    def board_name(self):
        return self.otp_info().board_name

    def default_manufacturer_sn(self):
        """What NervesKey picks when provisioning without a serial: Base32 of the device SN."""
        return base32(self.device_sn())

    # -- keys and certificates ----------------------------------------------------------
    def public_key(self):
        """The device public key (64 bytes X||Y) from GenKey mode 0 on slot 0."""
        if self._pub is None:
            self._pub = commands.public_key(self.transport, PRIVATE_KEY_SLOT)
        return self._pub

    def read_slot(self, slot):
        """Raw contents of data slot ``slot`` (needs a provisioned chip)."""
        data = self._slots.get(slot)
        if data is None:
            data = self._locked_read(commands.read_slot, slot)
            if slot in _CACHED_SLOTS:
                self._slots[slot] = data
        return data

    def signer_public_key(self, pair="primary"):
        return self.read_slot(SIGNER_PUBKEY_SLOT[check_pair(pair)])[:64]

    def has_aux_certificates(self):
        return any(self.read_slot(DEVICE_CERT_SLOT["aux"]))

    def device_cert(self, pair="primary"):
        """DER of the device certificate of ``pair`` ("primary" or "aux")."""
        cfg = self._require_provisioned()
        comp = self.read_slot(DEVICE_CERT_SLOT[check_pair(pair)])
        signer_pub = self.signer_public_key(pair)
        mfg = self.manufacturer_sn()
        return certs.device_cert_der(comp, cfg.serial_number, mfg, self.public_key(), signer_pub)

    def signer_cert(self, pair="primary"):
        """DER of the signer (CA) certificate of ``pair``."""
        comp = self.read_slot(SIGNER_CERT_SLOT[check_pair(pair)])
        return certs.signer_cert_der(comp, self.signer_public_key(pair))

    # -- signing ------------------------------------------------------------------------
    def sign_digest(self, digest, raw=False):
        """ECDSA P-256 signature of a 32-byte SHA-256 ``digest`` with the slot-0 key.

        Returns DER ``SEQUENCE{r, s}`` (X.509/TLS), or the raw 64-byte R||S with
        ``raw=True`` (JWT ES256). Uses Nonce 0x03 + Sign 0x80, so it works on 508A and 608.
        """
        rs = commands.sign_digest(self.transport, digest, PRIVATE_KEY_SLOT)
        return rs if raw else der.ecdsa_signature(rs)

    def random(self):
        """32 bytes from the chip's RNG."""
        return self.transport.request(commands.random)
