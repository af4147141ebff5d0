"""NervesKey (ATECC508A/608A on I2C): identity, certificates and signing.

``NervesKey(i2c, sleep_ms, ticks_ms)`` is the entry point; ``link`` has the pieces the
NervesHub link uses (identifier, TLS material, the mbedTLS ECDSA sign callback).
"""

from .errors import (  # noqa: F401
    CertificateError,
    ChipTimeoutError,
    CrcError,
    ExecutionError,
    NoAckError,
    NotProvisionedError,
    ResponseError,
    SelfTestError,
    StatusError,
    WakeError,
    WatchdogError,
)
from .nerves_key import NervesKey  # noqa: F401
