"""Test certificate authority for the local NervesHub simulator (`nhl hub --init`).

Everything is ECDSA P-256, like NervesHub device certificates. Files are written both as
PEM (CPython `ssl`) and DER (MicroPython's mbedTLS build cannot parse PEM).
Never use these keys outside tests: the CA key is written next to the certificates.
"""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 3650


def _name(cn, org="nhl test"):
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def _builder(subject, issuer, pub, days):
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def make_ca(cn="nhl test CA", days=VALID_DAYS):
    """A self-signed CA: returns (key, cert)."""
    key = new_key()
    name = _name(cn)
    cert = (
        _builder(name, name, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(ca, cn, eku, sans=None, days=VALID_DAYS):
    ca_key, ca_cert = ca
    key = new_key()
    b = (
        _builder(_name(cn), ca_cert.subject, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, b.sign(ca_key, hashes.SHA256())


def make_server_cert(ca, hosts=("localhost", "127.0.0.1")):
    """A TLS server certificate for host names and IP addresses: (key, cert)."""
    sans = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    return _leaf(ca, hosts[0], ExtendedKeyUsageOID.SERVER_AUTH, sans)


def make_device_cert(ca, identifier):
    """A device (TLS client) certificate whose CN is the device identifier: (key, cert)."""
    return _leaf(ca, identifier, ExtendedKeyUsageOID.CLIENT_AUTH)


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def key_der(key):
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _write(path, data, private=False):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_pair(directory, stem, key, cert):
    """Write ``stem.pem``/``stem.der`` and ``stem-key.pem``/``stem-key.der``; return the paths."""
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, stem)
    _write(base + ".pem", cert_pem(cert))
    _write(base + ".der", cert_der(cert))
    _write(base + "-key.pem", key_pem(key), private=True)
    _write(base + "-key.der", key_der(key), private=True)
    return {"cert": base + ".pem", "key": base + "-key.pem",
            "cert_der": base + ".der", "key_der": base + "-key.der"}


def init_ca(directory, hosts=("localhost", "127.0.0.1")):
    """Create ``ca``, ``server`` files in *directory*; return the CA (key, cert)."""
    ca = make_ca()
    write_pair(directory, "ca", *ca)
    write_pair(directory, "server", *make_server_cert(ca, hosts))
    return ca


def issue_device(directory, ca, identifier):
    """Write ``devices/<identifier>.pem`` (+ key, DER twins) signed by *ca*; return the paths."""
    return write_pair(os.path.join(directory, "devices"), identifier, *make_device_cert(ca, identifier))


def peer_identifier(der):
    """The CN of a DER certificate (the device identifier in our test PKI), or None."""
    cert = x509.load_der_x509_certificate(der)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return cns[0].value if cns else None
