"""NervesKey error classes. All are ``NervesKeyError``; ``retryable`` drives the retry policy.

A retryable error is worth a fresh wake and a resend (bus glitch, chip busy or
confused, watchdog); a final one will not change on retry (wrong chip state, bad input).
"""

from nerves_hub_link.errors import NervesKeyError


class NoAckError(NervesKeyError):
    """The chip did not ACK its I2C address (absent, asleep, still busy or wrong address)."""

    retryable = True


class CrcError(NervesKeyError):
    """A response group arrived with a CRC that does not match its bytes."""

    retryable = True


class ResponseError(NervesKeyError):
    """A response group has an impossible count byte or is shorter than its count."""

    retryable = True


class ChipTimeoutError(NervesKeyError):
    """The chip kept NACKing reads past the command's maximum execution time."""

    retryable = True


class WakeError(NervesKeyError):
    """The chip answered the wake pulse with something other than ``04 11 33 43``."""

    retryable = True


class StatusError(NervesKeyError):
    """The chip answered a command with a non-zero status byte (``status``)."""

    retryable = True

    def __init__(self, message, status, hint=None):
        super().__init__(message, hint)
        self.status = status


class ExecutionError(StatusError):
    """Status 0x0F: valid command refused in the chip's current state (e.g. zone unlocked)."""

    retryable = False


class WatchdogError(StatusError):
    """Status 0xEE, or silence after the wake window: the chip's watchdog expired."""

    retryable = True


class SelfTestError(StatusError):
    """Status 0x07 (or a ``04 07`` wake reply): the chip failed its power-on self test."""

    retryable = False


class NotProvisionedError(NervesKeyError):
    """The chip is not a provisioned NervesKey (data zone unlocked, or no ``Nrvs`` OTP)."""

    retryable = False


class CertificateError(NervesKeyError):
    """A compressed certificate slot does not hold a NervesKey certificate."""

    retryable = False
