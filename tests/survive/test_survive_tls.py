"""TLS refusals on both interpreters: a CPython `nhl device` and the MicroPython unix device
connect to a local TLS server whose certificate is self-signed, for another host, or expired
(made here with `cryptography`). Each attempt must fail in the handshake, the device must keep
retrying over TLS only (every connection starts with a TLS record, never plaintext), and a
`ws://` URL is refused by configuration. A correct certificate is the control."""

import datetime
import ipaddress
import json
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

INTERPS = ["cpython", "micropython"]
NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject_cn, key, issuer_cn, issuer_key, hosts=(), ca=False, start=None, end=None):
    b = (x509.CertificateBuilder().subject_name(_name(subject_cn)).issuer_name(_name(issuer_cn))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(start or NOW - DAY).not_valid_after(end or NOW + 30 * DAY)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if hosts:
        sans = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h)
                for h in hosts]
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("survive test CA", ca_key, "survive test CA", ca_key, ca=True)
    (d / "ca.der").write_bytes(ca.public_bytes(serialization.Encoding.DER))
    good = ("localhost", "127.0.0.1")
    leaves = {}
    for name, kw in {
            "good": dict(hosts=good),
            "wrong_host": dict(hosts=("wrong.example",)),
            "expired": dict(hosts=good, start=NOW - 30 * DAY, end=NOW - DAY),
            "self_signed": dict(hosts=good, self_signed=True)}.items():
        key = ec.generate_private_key(ec.SECP256R1())
        self_signed = kw.pop("self_signed", False)
        cn = kw["hosts"][0]
        cert = (_cert(cn, key, cn, key, **kw) if self_signed
                else _cert(cn, key, "survive test CA", ca_key, **kw))
        pem = (cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        (d / (name + ".pem")).write_bytes(pem)
        leaves[name] = str(d / (name + ".pem"))
    return {"dir": d, "ca": str(d / "ca.der"), "leaves": leaves}


class TLSServer:
    """Accepts connections on 127.0.0.1, records the first raw bytes of each (peeked before
    the handshake), the handshake outcome and, when it succeeds, the first request line."""

    def __init__(self, pem):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pem)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.cond = threading.Condition()
        self.closed = False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.closed:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(s,), daemon=True).start()

    def _one(self, s):
        rec = {"first": b"", "handshake": None, "request": None}
        s.settimeout(5)
        try:
            rec["first"] = s.recv(5, socket.MSG_PEEK)
            t = self.ctx.wrap_socket(s, server_side=True)
            rec["handshake"] = "ok"
            rec["request"] = t.recv(200).split(b"\r\n")[0]
            t.close()
        except (OSError, ssl.SSLError) as e:
            rec["handshake"] = rec["handshake"] or "failed: %s" % e
            s.close()
        with self.cond:
            self.conns.append(rec)
            self.cond.notify_all()

    def wait(self, n, timeout=15):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.conns) >= n, timeout)
        assert ok, "server saw %d connections, wanted %d: %r" % (len(self.conns), n, self.conns)
        return list(self.conns)

    def close(self):
        self.closed = True
        self.sock.close()


def _config(tmp_path, pki, port, name, **extra):
    cfg = {"host": "127.0.0.1", "port": port, "sni": "localhost", "ca_certs": pki["ca"],
           "data_path": str(tmp_path / ("data-" + name)), "heartbeat_interval_ms": 200,
           "socket": {"reconnect_after_ms": [50, 100, 200]},
           "shared_secret": {"product_key": "nhp_survive", "secret": "s3cret",
                             "identifier": "tls-dev"}}
    cfg.update(extra)
    path = tmp_path / (name + ".json")
    path.write_text(json.dumps(cfg))
    return str(path)


@pytest.mark.parametrize("interp", INTERPS)
def test_good_certificate_is_the_control(interp, pki, tmp_path, run_device):
    srv = TLSServer(pki["leaves"]["good"])
    try:
        run_device(interp, _config(tmp_path, pki, srv.port, "good"))
        conns = srv.wait(1)
        assert conns[0]["handshake"] == "ok", conns
        assert conns[0]["request"].startswith(b"GET /device-socket/websocket"), conns
    finally:
        srv.close()


@pytest.mark.parametrize("interp", INTERPS)
@pytest.mark.parametrize("leaf", ["self_signed", "wrong_host", "expired"])
def test_bad_server_certificate_is_refused(interp, leaf, pki, tmp_path, run_device):
    srv = TLSServer(pki["leaves"][leaf])
    try:
        dev = run_device(interp, _config(tmp_path, pki, srv.port, leaf))
        line = dev.wait_line(r"^nhl: error: ")
        assert "TLS" in line or "certificate" in line.lower(), line
        dev.wait_line(r"^nhl: reconnecting: ")
        conns = srv.wait(2)  # and it tried again, still over TLS
        for c in conns:
            assert c["first"][:1] == b"\x16", "not a TLS handshake record: %r" % (c,)
            assert c["handshake"] != "ok" and c["request"] is None, c
        assert dev.count(r"^nhl: (connected|joined)") == 0
    finally:
        srv.close()


@pytest.mark.parametrize("interp", INTERPS)
def test_plain_ws_url_is_refused_by_config(interp, pki, tmp_path, run_device):
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.5)
    try:
        port = srv.getsockname()[1]
        cfg = _config(tmp_path, pki, port, "plain", url="ws://127.0.0.1:%d" % port)
        dev = run_device(interp, cfg)
        line = dev.wait_line(r"^nhl: error: ")
        assert "ws://" in line or "wss" in line, line
        assert dev.wait_exit() == 2
        with pytest.raises(socket.timeout):
            srv.accept()  # no plaintext connection was ever made
    finally:
        srv.close()
