"""Device configuration: one JSON format for CPython and MicroPython.

The JSON object's keys are the ``Config`` field names below (unknown keys are warned
about and dropped). A value of the wrong type is replaced by its default with a warning;
combinations that cannot work (a certificate without its key, a shared-secret key without
a secret) raise ``ConfigError``. Relative file paths in the JSON file are relative to that
file; the ``overrides`` of ``from_json_file`` (command-line flags) are left relative to the
current directory, like any path typed on a command line.

| field | default | meaning |
|---|---|---|
| connect | true | false: build the config but never open the connection |
| data_path | "/data/nerves-hub" | device data directory (KV file, flash image, downloads) |
| url | null | "wss://host[:port]"; overrides host/port (TLS is required: no ws://) |
| host / port / sni | "localhost" / 443 / null | server; sni = TLS server name (default host) |
| block_device | null | flash image file (or board partition name) for firmware writes |
| block_device_size | 0 | size in bytes of a file-backed image created on first use |
| uboot_env | null | [block_offset, block_count(, redundant_offset)]: the firmware KV is the U-Boot environment at these 512-byte blocks of block_device (else kv.json in data_path) |
| fwup_env / fwup_task | {} / "upgrade" | fwup environment and task |
| fwup_public_keys / archive_public_keys | [] | base64 Ed25519 keys (non-strings dropped) |
| request_fwup_public_keys / request_archive_public_keys | false | ask the server for keys |
| fwup_version | FWUP_VERSION | reported in the join payload |
| device_api_version | "2.0.0" | announced features (2.0.0: no scripts, no extensions) |
| nerves_key | {} | NervesKey: {"bus", "address", "pair", "sim"}; identifier and TLS from the chip (nerves_key_identity) |
| params | {} | extra join parameters |
| remote_console (alias remote_iex) | false | join the "console" topic |
| remote_console_timeout_s | 300 | console inactivity timeout |
| socket | {} | {"reconnect_after_ms": [ms...], "headers": [[k, v]...]} |
| heartbeat_interval_ms | 30000 | Phoenix heartbeat period, 0 = off |
| rejoin_after_ms | [5000] | delays before rejoining a closed topic |
| connect_timeout_ms | 15000 | TCP+TLS+upgrade deadline |
| download | {} | firmware and archive download retries (NervesHubLink's ``fwup`` downloader options): {"max_disconnects": 10, "idle_timeout_ms": 60000, "max_timeout_ms": 86400000, "time_between_retries_ms": 15000, "worst_case_download_speed": 30000} (bit/s); a missing or bad key keeps its default |
| shared_secret | {} | {"key"/"product_key", "secret"/"product_secret", "identifier", "digest", "iterations", "length"} |
| identifier | null | device serial number (default identifier for shared secrets) |
| ca_certs / cert / key | null | PEM or DER files: server CA(s), client certificate and key |
| download_ca_certs | null | PEM or DER file (or list of files): extra CAs trusted for firmware and archive downloads, on top of ca_certs and, on CPython, the system trust store (boards have none: ship the firmware host's root, e.g. Amazon's for S3) |
| configurator | null | "module.function" called with the Config at start-up |
| log_level | "info" | debug, info, warning, error |
"""

import json

from nerves_hub_link import log
from nerves_hub_link.errors import ConfigError

FWUP_VERSION = "1.13.0"
DEVICE_API_VERSION = "2.0.0"
CERT_PATH = "/socket/websocket"
SHARED_SECRET_PATH = "/device-socket/websocket"

_STR = "str"
_OSTR = "str|null"
_INT = "int>=0"
_PINT = "int>0"
_BOOL = "bool"
_DICT = "dict"
_LIST = "list"

# field -> (kind, default); defaults are copied on use
FIELDS = {
    "connect": (_BOOL, True),
    "data_path": (_STR, "/data/nerves-hub"),
    "url": (_OSTR, None),
    "host": (_STR, "localhost"),
    "port": ("port", 443),
    "sni": (_OSTR, None),
    "block_device": (_OSTR, None),
    "block_device_size": (_INT, 0),
    "uboot_env": ("env", None),
    "fwup_env": (_DICT, {}),
    "fwup_task": (_STR, "upgrade"),
    "fwup_public_keys": (_LIST, []),
    "archive_public_keys": (_LIST, []),
    "request_fwup_public_keys": (_BOOL, False),
    "request_archive_public_keys": (_BOOL, False),
    "fwup_version": (_STR, FWUP_VERSION),
    "device_api_version": (_STR, DEVICE_API_VERSION),
    "nerves_key": (_DICT, {}),
    "params": (_DICT, {}),
    "remote_console": (_BOOL, False),
    "remote_console_timeout_s": (_PINT, 300),
    "socket": (_DICT, {}),
    "heartbeat_interval_ms": (_INT, 30000),
    "rejoin_after_ms": ("ms-list", [5000]),
    "connect_timeout_ms": (_PINT, 15000),
    "download": (_DICT, {}),
    "shared_secret": (_DICT, {}),
    "identifier": (_OSTR, None),
    "ca_certs": (_OSTR, None),
    "download_ca_certs": ("paths", None),
    "cert": (_OSTR, None),
    "key": (_OSTR, None),
    "configurator": (_OSTR, None),
    "log_level": (_STR, "info"),
}
ALIASES = {"remote_iex": "remote_console", "remote_iex_timeout": "remote_console_timeout_s",
           "heartbeat_interval_msec": "heartbeat_interval_ms", "rejoin_after": "rejoin_after_ms"}
# download key -> (download.RetryConfig option, kind); times in ms like the rest of the config
DOWNLOAD_KEYS = {
    "max_disconnects": ("max_disconnects", _PINT),
    "idle_timeout_ms": ("idle_timeout", _PINT),
    "max_timeout_ms": ("max_timeout", _PINT),
    "time_between_retries_ms": ("time_between_retries", _INT),
    "worst_case_download_speed": ("worst_case_download_speed", _PINT),
}
PATH_FIELDS = ("data_path", "block_device", "ca_certs", "download_ca_certs", "cert", "key")
LOG_LEVELS = {"debug": log.DEBUG, "info": log.INFO, "warning": log.WARNING, "error": log.ERROR}


def _copy(v):
    """A deep copy of a JSON value: the Config never shares a dict or list with its caller."""
    if isinstance(v, dict):
        out = {}
        for k in v:
            out[k] = _copy(v[k])
        return out
    if isinstance(v, (list, tuple)):
        return [_copy(x) for x in v]
    return v


def _ok(kind, v):
    if kind == _BOOL:
        return v is True or v is False
    if kind in (_INT, _PINT):
        return isinstance(v, int) and not (v is True or v is False) and (
            v >= 0 if kind == _INT else v > 0)
    if kind == _STR:
        return isinstance(v, str)
    if kind == _OSTR:
        return v is None or isinstance(v, str)
    if kind == _DICT:
        return isinstance(v, dict)
    if kind == _LIST:
        return isinstance(v, list)
    if kind == "ms-list":
        return _ms_list(v) is not None
    if kind == "port":
        return isinstance(v, int) and not (v is True or v is False) and 0 < v < 65536
    if kind == "paths":
        if v is None or (isinstance(v, str) and v):
            return True
        if not isinstance(v, list) or not v:
            return False
        for x in v:
            if not isinstance(x, str) or not x:
                return False
        return True
    if kind == "env":
        if v is None:
            return True
        if not isinstance(v, list) or len(v) not in (2, 3):
            return False
        for x in v:
            if not isinstance(x, int) or isinstance(x, bool) or x < 0:
                return False
        return v[1] > 0
    return False


def _ms_list(v):
    """An int or a non-empty list of positive ints -> list; anything else -> None."""
    if isinstance(v, int) and not (v is True or v is False) and v > 0:
        return [v]
    if isinstance(v, list) and v:
        for x in v:
            if not isinstance(x, int) or x is True or x is False or x <= 0:
                return None
        return list(v)
    return None


def _headers(v):
    """socket.headers: [[name, value], ...] with a token name and a string value without
    CR/LF/NUL; a bad entry is warned about and dropped (it would fail every connect)."""
    from nerves_hub_link.http import _is_token

    if v is None:
        return []
    if not isinstance(v, list):
        log.warning("config: socket.headers=%r is not a list of [name, value]; ignored", v)
        return []
    good = []
    for kv in v:
        if isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str) \
                and _is_token(kv[0]) and isinstance(kv[1], str) \
                and "\r" not in kv[1] and "\n" not in kv[1] and "\0" not in kv[1]:
            good.append(kv)
        else:
            log.warning("config: socket.headers entry %r dropped: want [name, value] strings,"
                        " the name a token, the value without CR/LF/NUL", kv)
    return good


def _join_path(base, path):
    if not base or not path or path.startswith("/"):
        return path
    return base.rstrip("/") + "/" + path


class Config:
    """Validated device settings; every field of ``FIELDS`` is an attribute."""

    def __init__(self, **fields):
        for name in FIELDS:
            setattr(self, name, _copy(FIELDS[name][1]))
        self.update(fields)

    # ---- building -------------------------------------------------------------------

    def update(self, fields, base_dir=None):
        """Set fields from a mapping, warning about and defaulting bad values."""
        for name in fields:
            value = _copy(fields[name])
            key = ALIASES.get(name, name)
            spec = FIELDS.get(key)
            if spec is None:
                log.warning("config: unknown key %r ignored", name)
                continue
            kind, default = spec
            if not _ok(kind, value):
                log.warning("config: %s=%r is not %s; using default %r", key, value, kind, default)
                value = _copy(default)
            elif kind == "ms-list":
                value = _ms_list(value)
            if key in PATH_FIELDS and value:
                if isinstance(value, list):
                    value = [_join_path(base_dir, x) for x in value]
                else:
                    value = _join_path(base_dir, value)
            if key == "nerves_key" and value:
                from nerves_hub_link.nerves_key_identity import options

                value = options(value, base_dir)
            setattr(self, key, value)
        self._clean()
        return self

    def _clean(self):
        for name in ("fwup_public_keys", "archive_public_keys"):
            keys = getattr(self, name)
            good = [k.strip() for k in keys if isinstance(k, str) and k.strip()]
            if len(good) != len(keys):
                log.warning("config: %s: %d non-string or empty keys dropped",
                            name, len(keys) - len(good))
            setattr(self, name, good)
        sock = self.socket
        if "reconnect_after_ms" in sock and sock["reconnect_after_ms"] is not None:
            lst = _ms_list(sock["reconnect_after_ms"])
            if lst is None:
                log.warning("config: socket.reconnect_after_ms=%r is not a list of positive ms;"
                            " using the default backoff", sock["reconnect_after_ms"])
            sock["reconnect_after_ms"] = lst
        if "headers" in sock:
            sock["headers"] = _headers(sock["headers"])
        dl = self.download = dict(self.download)
        for k in list(dl):
            spec = DOWNLOAD_KEYS.get(k)
            if spec is None:
                log.warning("config: download.%s unknown, ignored (known: %s)",
                            k, ", ".join(sorted(DOWNLOAD_KEYS)))
                del dl[k]
            elif not _ok(spec[1], dl[k]):
                log.warning("config: download.%s=%r is not %s; using the default", k, dl[k],
                            spec[1])
                del dl[k]
        if self.log_level not in LOG_LEVELS:
            log.warning("config: log_level=%r unknown; using info", self.log_level)
            self.log_level = "info"

    @classmethod
    def from_dict(cls, data, base_dir=None):
        if not isinstance(data, dict):
            raise ConfigError("device config must be a JSON object, got %r" % (data,))
        return cls().update(data, base_dir)

    @classmethod
    def from_json_file(cls, path, overrides=None):
        """Load a JSON device config; *overrides* (a dict) wins over the file.

        Relative paths in the file are joined with the file's directory; those in
        *overrides* (command-line flags) are kept as given, i.e. relative to the current
        directory."""
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            raise ConfigError("cannot read config file %s: %s" % (path, e))
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ConfigError("config file %s is not valid JSON: %s" % (path, e),
                              hint="check for trailing commas and unquoted keys")
        base = path.rsplit("/", 1)[0] if "/" in path else ""
        cfg = cls.from_dict(data, base)
        if overrides:
            cfg.update(overrides)
        return cfg

    def to_dict(self):
        out = {}
        for name in FIELDS:
            out[name] = _copy(getattr(self, name))
        return out

    # ---- derived values -------------------------------------------------------------

    def shared_secret_key(self):
        ss = self.shared_secret
        return ss.get("key") or ss.get("product_key")

    def uses_shared_secret(self):
        return bool(self.shared_secret_key())

    def shared_secret_value(self):
        ss = self.shared_secret
        if (self.shared_secret_key() or "").startswith("nhp_"):
            return ss.get("product_secret") or ss.get("secret")
        return ss.get("secret")

    def device_identifier(self):
        return self.shared_secret.get("identifier") or self.identifier or "unconfigured"

    def endpoint(self):
        """(tls, host, port, path) of the device websocket."""
        tls, host, port = True, self.host, self.port
        if self.url:
            tls, host, port = parse_url(self.url)
        path = SHARED_SECRET_PATH if self.uses_shared_secret() else CERT_PATH
        return tls, host, port, path

    def server_name(self):
        return self.sni or self.endpoint()[1]

    def reconnect_after_ms(self):
        return self.socket.get("reconnect_after_ms")

    def download_retry(self):
        """The downloader's ``RetryConfig`` from ``download`` (defaults for missing keys)."""
        from nerves_hub_link.download import RetryConfig

        opts = {}
        for k in self.download:
            opts[DOWNLOAD_KEYS[k][0]] = self.download[k]
        return RetryConfig(warn=log.warning, **opts)

    def download_ca_der(self):
        """DER CAs for download TLS: ``ca_certs`` plus ``download_ca_certs`` (read now), or
        None when neither is set. The HAL adds its system store where it has one."""
        paths = [self.ca_certs] if self.ca_certs else []
        extra = self.download_ca_certs
        paths.extend([extra] if isinstance(extra, str) else extra or ())
        out = []
        for p in paths:
            out.extend(read_der_list(p))
        return out or None

    def log_level_value(self):
        return LOG_LEVELS[self.log_level]

    def validate(self):
        """Raise ConfigError for settings that cannot possibly connect."""
        if self.cert and not self.key:
            raise ConfigError("cert is set (%s) but key is not" % self.cert,
                              hint="add the matching private key file as \"key\"")
        if self.key and not self.cert:
            raise ConfigError("key is set (%s) but cert is not" % self.key)
        if self.uses_shared_secret() and not self.shared_secret_value():
            raise ConfigError("shared_secret has key %r but no secret" % self.shared_secret_key(),
                              hint="add \"secret\" (or \"product_secret\" for an nhp_ key)")
        self.endpoint()  # a bad url raises here
        if not self.ca_certs:
            raise ConfigError("ca_certs is not set",
                              hint="point ca_certs at the server CA (PEM or DER file)")
        if not self.uses_shared_secret() and not self.cert and not self.configurator \
                and not self.nerves_key:
            raise ConfigError("no credentials: set cert+key, shared_secret or nerves_key")
        return self


def parse_url(url):
    """"wss://host[:port][/...]" -> (True, host, port); path and query are ignored.

    TLS is required (server verification cannot be switched off), so ``ws://`` and
    ``https://`` are refused, as are a bracketed IPv6 host without its "]" and a port
    outside 1..65535.
    """
    if not isinstance(url, str) or not url.lower().startswith("wss://"):
        raise ConfigError("url %r must start with wss://" % (url,),
                          hint="the device socket always uses TLS; e.g. wss://host:443")
    hostport = url[6:]
    for c in "/?#":
        hostport = hostport.split(c, 1)[0]
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ConfigError("url %r: IPv6 host without a closing ']'" % url)
        host, tail = hostport[1:end], hostport[end + 1:]
        if tail and not tail.startswith(":"):
            raise ConfigError("url %r: unexpected %r after the IPv6 host" % (url, tail))
    elif ":" in hostport:
        host, tail = hostport.split(":", 1)
        tail = ":" + tail
    else:
        host, tail = hostport, ""
    port = 443
    if tail:
        if not tail[1:].isdigit() or not 0 < int(tail[1:]) < 65536:
            raise ConfigError("url %r has a bad port %r (want 1..65535)" % (url, tail[1:]))
        port = int(tail[1:])
    if not host:
        raise ConfigError("url %r has no host" % url)
    return True, host, port


def build(config):
    """Run the configurator hook ("module.function") and validate; returns the Config."""
    hook = config.configurator
    if hook:
        if "." not in hook:
            raise ConfigError("configurator %r must be \"module.function\"" % hook)
        mod_name, fn_name = hook.rsplit(".", 1)
        try:
            mod = __import__(mod_name, None, None, [fn_name])
        except ImportError as e:
            raise ConfigError("configurator module %r not found: %s" % (mod_name, e))
        fn = getattr(mod, fn_name, None)
        if fn is None:
            raise ConfigError("configurator %r: no function %r" % (mod_name, fn_name))
        try:
            result = fn(config)
        except Exception as e:  # the hook is user code: say which hook failed and why
            raise ConfigError("configurator %s failed: %s: %s" % (hook, type(e).__name__, e),
                              hint="fix the hook or remove \"configurator\" from the config")
        if result is not None:
            if not isinstance(result, Config):
                raise ConfigError("configurator %s returned %r, not a Config (or None)"
                                  % (hook, type(result).__name__))
            config = result
    log.set_level(config.log_level_value())
    return config.validate()


# ---- certificate files ----------------------------------------------------------------

def read_der_list(path):
    """DER blobs from a PEM file (every BEGIN/END block) or a DER file (one blob)."""
    import binascii

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError("cannot read %s: %s" % (path, e))
    if b"-----BEGIN " not in data:
        if not data:
            raise ConfigError("%s is empty" % path)
        return [data]
    out = []
    pos = 0
    while True:
        start = data.find(b"-----BEGIN ", pos)
        if start < 0:
            break
        body = data.find(b"\n", start)
        end = data.find(b"-----END ", body)
        if body < 0 or end < 0:
            raise ConfigError("%s: PEM block at offset %d has no END line" % (path, start))
        b64 = b"".join(data[body:end].split())
        try:
            out.append(binascii.a2b_base64(b64))
        except ValueError:
            raise ConfigError("%s: bad base64 in PEM block at offset %d" % (path, start))
        pos = end + 9
    if not out:
        raise ConfigError("%s: no PEM block found" % path)
    return out


def read_der(path):
    """The first DER blob of a PEM or DER file."""
    return read_der_list(path)[0]
