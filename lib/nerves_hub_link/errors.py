"""One exception family for the whole client.

Every error that bad input (network frames, archives, HTTP replies, I2C responses,
configuration) can cause is a ``NervesHubError``. Messages carry the evidence
(offending bytes as ``%r``, offsets, expected vs got); ``hint`` says what to do next.
"""


class NervesHubError(Exception):
    """Base of every error raised by nerves_hub_link."""

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self):
        if self.hint:
            return "%s (%s)" % (self.message, self.hint)
        return self.message


class ConfigError(NervesHubError):
    """Invalid or missing configuration."""


class FwupError(NervesHubError):
    """A firmware archive could not be read, verified or applied.

    ``str(err)`` is the fwup-style text (without the ``fwup: `` prefix).
    """


class ArchiveError(FwupError):
    """The .fw container (ZIP stream, meta.conf) is malformed or damaged."""


class SignatureError(FwupError):
    """A signature or a digest did not verify."""


class BlockDeviceError(NervesHubError):
    """A block device refused a read or a write, or an access is out of range."""


class CryptoError(NervesHubError):
    """Bad key material or a failed cryptographic check outside fwup."""


class ProtocolError(NervesHubError):
    """A peer broke the WebSocket, HTTP or Phoenix protocol.

    ``remote`` is True when the peer is at fault, False when our own code asked
    for something the protocol does not allow.
    """

    def __init__(self, message, hint=None, remote=True):
        super().__init__(message, hint)
        self.remote = remote


class TransportError(NervesHubError):
    """The network connection failed, timed out or was closed."""


class AuthError(NervesHubError):
    """The server refused our credentials (certificate or NH1 shared secret)."""


class DownloadError(NervesHubError):
    """A firmware or archive download failed."""


class UpdateError(NervesHubError):
    """An update could not be started or completed."""


class NervesKeyError(NervesHubError):
    """The NervesKey (ATECC508A/608A) did not answer as expected."""
