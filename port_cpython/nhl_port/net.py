"""CPython network HAL: ``open_connection(host, port, tls)`` and the TLS context factory.

``tls_context(ca_certs_der, cert_der, key_der, server_name)`` returns a ``TLS`` holding an
``ssl.SSLContext`` that verifies the server certificate and its host name (TLS 1.2+),
with the client certificate loaded when given. DER is what the portable code hands over;
``ssl`` needs the client pair as files, so it goes through a private temporary file that
is removed at once.
"""

import asyncio
import os
import ssl
import tempfile

from nerves_hub_link.errors import ConfigError, TransportError


class TLS:
    """An SSL context plus the name to verify (and send as SNI)."""

    def __init__(self, context, server_name):
        self.context = context
        self.server_name = server_name


def _pem(label, der):
    import base64

    b64 = base64.encodebytes(der).decode("ascii")
    return "-----BEGIN %s-----\n%s-----END %s-----\n" % (label, b64, label)


def _key_pem(der):
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_der_private_key(bytes(der), None)
    except (ValueError, TypeError) as e:
        raise ConfigError("client key is not an unencrypted DER private key: %s" % e)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def tls_context(ca_certs_der, cert_der=None, key_der=None, server_name=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_certs_der:
        try:
            ctx.load_verify_locations(cadata=b"".join(bytes(c) for c in ca_certs_der))
        except ssl.SSLError as e:
            raise ConfigError("cannot load the CA certificates: %s" % e)
    else:
        ctx.load_default_certs()
    if cert_der is not None:
        fd, path = tempfile.mkstemp(prefix="nhl-client-", suffix=".pem")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(_pem("CERTIFICATE", bytes(cert_der)))
                f.write(_key_pem(key_der))
            ctx.load_cert_chain(path)
        except ssl.SSLError as e:
            raise ConfigError("client certificate and key do not load: %s" % e,
                              hint="check that the key belongs to the certificate")
        finally:
            os.unlink(path)
    return TLS(ctx, server_name)


async def open_connection(host, port, tls=None):
    """asyncio streams to host:port, wrapped in TLS when *tls* is given."""
    try:
        if tls is None:
            return await asyncio.open_connection(host, port)
        return await asyncio.open_connection(
            host, port, ssl=tls.context, server_hostname=tls.server_name or host)
    except ssl.SSLCertVerificationError as e:
        raise TransportError("TLS: server certificate rejected: %s" % e.verify_message,
                             hint="check ca_certs and sni")
    except ssl.SSLError as e:
        raise TransportError("TLS handshake failed: %s" % (e.reason or e),
                             hint="the server may have refused our client certificate")
    except (ConnectionResetError, BrokenPipeError) as e:
        if tls is None:
            raise TransportError("connection to %s:%s reset: %s" % (host, port, e))
        raise TransportError("TLS handshake failed: connection reset by the server",
                             hint="the server may have refused our client certificate")
    except OSError as e:
        raise TransportError("cannot connect to %s:%s: %s" % (host, port, e.strerror or e))
