"""Downloads trust the CA of the firmware host, not only the NervesHub CA.

Real NervesHub serves firmware from S3 presigned URLs, signed by a public CA, while
``ca_certs`` names the NervesHub (device endpoint) CA. An HTTPS server on 127.0.0.1 whose
certificate comes from a second CA ("cdn CA") stands in for S3: the download through
``update_manager.download_opener`` succeeds when ``download_ca_certs`` names that CA and
fails with a certificate error when it does not (``ca_certs`` alone, or the system store,
cannot vouch for it). Both interpreters (the MicroPython HAL loads every CA given).
"""

import asyncio
import hashlib
import json
import os
import socket
import ssl
import subprocess
import threading

import pytest
from nerves_hub_link.config import Config
from nerves_hub_link.download import Downloader, RetryConfig
from nerves_hub_link.errors import DownloadError
from nerves_hub_link.update_manager import download_opener
from nhl import certs
from nhl.hub.testing import ROOT, micropython_binary
from nhl_port.device import CPythonHAL

BODY = bytes((i * 13 + 5) & 0xFF for i in range(50000))

SINK = """
class Sink:
    def __init__(self):
        self.h = hashlib.sha256()

    def write(self, chunk):
        self.h.update(chunk)

    def restart(self):
        self.h = hashlib.sha256()
"""

DEVICE = """
import asyncio, binascii, hashlib, json, sys
from nerves_hub_link.config import Config
from nerves_hub_link.download import Downloader, RetryConfig
from nerves_hub_link.errors import DownloadError
from nerves_hub_link.update_manager import download_opener
from unix_hal import UnixHAL

url, fields, data = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
hal = UnixHAL(data)
cfg = Config.from_dict(fields)
""" + SINK + """

sink = Sink()
dl = Downloader(url, sink, download_opener(cfg, hal), hal.ticks_ms, hal.sleep_ms,
                RetryConfig(max_disconnects=1))
try:
    asyncio.run(dl.run())
    print("done", binascii.hexlify(sink.h.digest()).decode())
except DownloadError as e:
    print("failed", e.reason, str(e))
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    hub_ca = certs.make_ca("hub CA")
    cdn_ca = certs.make_ca("cdn CA")
    paths = certs.write_pair(d, "server", *certs.make_server_cert(cdn_ca))
    paths["hub_ca"] = certs.write_pair(d, "hub-ca", *hub_ca)["cert"]
    paths["cdn_ca"] = certs.write_pair(d, "cdn-ca", *cdn_ca)["cert"]
    return paths


@pytest.fixture(scope="module")
def server(pki):
    """HTTPS on 127.0.0.1 with the cdn CA's certificate; serves BODY to every GET."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["cert"], pki["key"])
    sock = socket.create_server(("127.0.0.1", 0))
    served = []

    def serve(conn):
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                head = b""
                while b"\r\n\r\n" not in head:
                    data = tls.recv(4096)
                    if not data:
                        return
                    head += data
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
                served.append(1)
        except (OSError, ssl.SSLError):  # the client refused our certificate
            pass

    def accept():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.settimeout(30)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield "https://localhost:%d/firmware/v2.fw?X-Amz-Signature=secret" % sock.getsockname()[1]
    sock.close()


_ns = {"hashlib": hashlib}
exec(SINK, _ns)  # the same sink the MicroPython script defines
Sink = _ns["Sink"]


def _cpython_download(url, cfg, tmp_path):
    hal = CPythonHAL(str(tmp_path / "data"))
    sink = Sink()
    dl = Downloader(url, sink, download_opener(cfg, hal), hal.ticks_ms, hal.sleep_ms,
                    RetryConfig(max_disconnects=1))
    asyncio.run(dl.run())
    return sink.h.hexdigest()


def test_cpython_trusts_download_ca_certs(pki, server, tmp_path):
    cfg = Config.from_dict({"ca_certs": pki["hub_ca"], "download_ca_certs": [pki["cdn_ca"]]})
    assert _cpython_download(server, cfg, tmp_path) == hashlib.sha256(BODY).hexdigest()


def test_cpython_refuses_a_host_only_the_hub_ca_and_system_store_would_vouch_for(
        pki, server, tmp_path):
    cfg = Config.from_dict({"ca_certs": pki["hub_ca"]})
    with pytest.raises(DownloadError) as e:
        _cpython_download(server, cfg, tmp_path)
    assert "certificate" in str(e.value) and "secret" not in str(e.value), str(e.value)


def _mp_download(url, fields, tmp_path):
    script = tmp_path / "device.py"
    script.write_text(DEVICE)
    env = dict(os.environ, MICROPYPATH="lib:boards/unix:.frozen")
    r = subprocess.run([micropython_binary(), str(script), url, json.dumps(fields),
                        str(tmp_path / "data")], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.strip().splitlines()[-1]


def test_micropython_trusts_ca_certs_plus_download_ca_certs(pki, server, tmp_path):
    # DER files: this port's TLS parses no PEM, and read_der_list converts PEM anyway
    out = _mp_download(server, {"ca_certs": pki["hub_ca"], "download_ca_certs": pki["cdn_ca"]},
                       tmp_path)
    assert out == "done " + hashlib.sha256(BODY).hexdigest(), out


def test_micropython_refuses_without_download_ca_certs(pki, server, tmp_path):
    out = _mp_download(server, {"ca_certs": pki["hub_ca"]}, tmp_path)
    assert out.startswith("failed max_disconnects_reached") and "secret" not in out, out
    assert "TLS" in out or "certificate" in out, out
