"""`nhl hub`: a local NervesHub simulator (aiohttp) for development and tests.

``init_dir(DIR)`` writes a test CA, a server certificate for 127.0.0.1/localhost, a device
certificate, NH1 shared secrets, ``hub.json`` and two ready-to-use device configs.
``load(DIR)`` builds a :class:`Hub` from ``hub.json``.
"""

import json
import os
import secrets

from nhl.hub.app import Hub, server_ssl_context

__all__ = ["Hub", "init_dir", "load", "load_settings", "server_ssl_context"]

DEFAULT_TLS_PORT = 4443
DEFAULT_ADMIN_PORT = 4444


def _token():
    return secrets.token_urlsafe(32)


def device_config(hub_dir, identifier, data_path, auth, tls_port=DEFAULT_TLS_PORT):
    """A device config (JSON-ready dict) pointing at this hub; paths are relative to *hub_dir*."""
    cfg = {
        "host": "127.0.0.1",
        "port": tls_port,
        "sni": "localhost",
        "ca_certs": "ca.der",
        "data_path": data_path,
        "heartbeat_interval_ms": 30000,
    }
    if auth == "certificate":
        cfg["cert"] = "devices/%s.der" % identifier
        cfg["key"] = "devices/%s-key.der" % identifier
    else:
        with open(os.path.join(hub_dir, "hub.json")) as f:
            hub = json.load(f)
        for key, entry in hub["shared_secrets"].items():
            if key.startswith("nhp_"):
                cfg["shared_secret"] = {"product_key": key, "secret": entry["secret"],
                                        "identifier": identifier}
                break
    return cfg


def init_dir(directory, devices=("device-1",), hosts=("localhost", "127.0.0.1")):
    """Create a complete simulator directory; return the parsed ``hub.json``."""
    from nhl import certs

    os.makedirs(directory, exist_ok=True)
    ca = certs.init_ca(directory, hosts)
    for ident in devices:
        certs.issue_device(directory, ca, ident)
    hub = {
        "ca": "ca.pem",
        "cert": "server.pem",
        "key": "server-key.pem",
        "host": "127.0.0.1",
        "tls_port": DEFAULT_TLS_PORT,
        "admin_port": DEFAULT_ADMIN_PORT,
        "shared_secrets": {
            "nhp_" + _token(): {"secret": _token()},
            "nhd_" + _token(): {"secret": _token(), "identifier": "device-nh1"},
        },
    }
    path = os.path.join(directory, "hub.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(hub, f, indent=2)
    for name, ident, auth in (("device-cert.json", devices[0], "certificate"),
                              ("device-nh1.json", "device-nh1", "shared_secret")):
        cfg = device_config(directory, ident, "data/" + ident, auth)
        with open(os.path.join(directory, name), "w") as f:
            json.dump(cfg, f, indent=2)
    return hub


def load_settings(directory):
    with open(os.path.join(directory, "hub.json")) as f:
        return json.load(f)


def load(directory, **kw):
    """A :class:`Hub` configured from ``DIR/hub.json`` (TLS context and shared secrets)."""
    cfg = load_settings(directory)

    def p(name):
        return os.path.join(directory, cfg[name])

    ctx = server_ssl_context(p("ca"), p("cert"), p("key"))
    return Hub(ssl_context=ctx, shared_secrets=cfg.get("shared_secrets", {}), **kw)
