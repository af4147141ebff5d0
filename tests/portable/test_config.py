# heapsize: 256K
from nerves_hub_link import log
from nerves_hub_link.config import Config, build, parse_url, read_der, read_der_list
from nerves_hub_link.errors import ConfigError
from support import raises

TMP = "/tmp/nhl_test_config_%s"


def _capture():
    lines = []
    log.set_sink(lines.append)
    return lines


def _write(name, text):
    path = TMP % name
    with open(path, "w") as f:
        f.write(text)
    return path


def test_defaults_match_spec():
    c = Config()
    assert c.connect is True
    assert c.data_path == "/data/nerves-hub"
    assert c.port == 443 and c.host == "localhost"
    assert c.heartbeat_interval_ms == 30000
    assert c.rejoin_after_ms == [5000]
    assert c.fwup_public_keys == [] and c.remote_console is False
    assert c.endpoint() == (True, "localhost", 443, "/socket/websocket")


def test_invalid_value_warns_and_uses_default():
    lines = _capture()
    try:
        c = Config.from_dict({"port": "443", "heartbeat_interval_ms": -5, "connect": "yes"})
    finally:
        log.set_sink(None)
    assert c.port == 443 and c.heartbeat_interval_ms == 30000 and c.connect is True
    assert len([x for x in lines if "[warning]" in x]) == 3
    assert "port='443'" in lines[0] or "port='443'" in "".join(lines)


def test_unknown_key_warned_alias_accepted():
    lines = _capture()
    try:
        c = Config.from_dict({"remote_iex": True, "colour": 1, "rejoin_after": 7000})
    finally:
        log.set_sink(None)
    assert c.remote_console is True and c.rejoin_after_ms == [7000]
    assert any("colour" in x for x in lines)


def test_non_string_keys_dropped():
    lines = _capture()
    try:
        c = Config.from_dict({"fwup_public_keys": ["abc=", 5, None, " def= "]})
    finally:
        log.set_sink(None)
    assert c.fwup_public_keys == ["abc=", "def="]
    assert any("2 non-string" in x for x in lines)


def test_shared_secret_selects_device_socket_path():
    c = Config.from_dict({"host": "hub.example", "shared_secret": {
        "product_key": "nhp_x", "secret": "s", "identifier": "dev-9"}})
    assert c.endpoint() == (True, "hub.example", 443, "/device-socket/websocket")
    assert c.shared_secret_key() == "nhp_x" and c.shared_secret_value() == "s"
    assert c.device_identifier() == "dev-9"


def test_url_overrides_host_and_port():
    c = Config.from_dict({"url": "wss://devices.example:8443", "host": "ignored"})
    assert c.endpoint()[:3] == (True, "devices.example", 8443)
    assert parse_url("wss://h") == (True, "h", 443)
    assert parse_url("wss://[::1]:81/x") == (True, "::1", 81)
    assert parse_url("WSS://h:8443?vsn=2") == (True, "h", 8443)
    e = raises(ConfigError, parse_url, "http://h")
    assert "wss://" in str(e)


def test_bad_urls_and_ports_are_config_errors():
    for url, why in (("ws://h", "wss://"), ("https://h", "wss://"),
                     ("wss://[::1", "']'"), ("wss://[::1]x", "after the IPv6"),
                     ("wss://h:0", "1..65535"), ("wss://h:65536", "1..65535"),
                     ("wss://h:x", "bad port"), ("wss://h:", "bad port"), ("wss://:1", "no host"),
                     ("wss:///x", "no host")):
        e = raises(ConfigError, parse_url, url)
        assert why in str(e), (url, str(e))
    lines = _capture()
    try:
        assert Config.from_dict({"port": 70000}).port == 443
    finally:
        log.set_sink(None)
    assert any("port=70000" in x for x in lines)
    e = raises(ConfigError, Config.from_dict({"url": "wss://h:99999", "cert": "c", "key": "k",
                                              "ca_certs": "ca"}).validate)
    assert "65535" in str(e)


def test_from_json_file_resolves_relative_paths():
    path = _write("a.json", '{"ca_certs": "ca.der", "cert": "/abs/c.der", "key": "k.der",'
                            ' "data_path": "data"}')
    c = Config.from_json_file(path)
    assert c.ca_certs == "/tmp/ca.der" and c.cert == "/abs/c.der"
    assert c.data_path == "/tmp/data"


def test_from_json_file_overrides_win():
    path = _write("b.json", '{"port": 1}')
    assert Config.from_json_file(path, {"port": 2}).port == 2


def test_bad_json_is_config_error():
    path = _write("c.json", '{port: 1}')
    e = raises(ConfigError, Config.from_json_file, path)
    assert "not valid JSON" in str(e)
    assert "cannot read" in str(raises(ConfigError, Config.from_json_file, "/nonexistent.json"))


def test_validate_fatal_combinations():
    e = raises(ConfigError, Config.from_dict({"cert": "c", "ca_certs": "x"}).validate)
    assert "key is not" in str(e)
    e = raises(ConfigError, Config.from_dict({"shared_secret": {"key": "nhd_a"},
                                             "ca_certs": "x"}).validate)
    assert "no secret" in str(e)
    e = raises(ConfigError, Config.from_dict({"cert": "c", "key": "k"}).validate)
    assert "ca_certs" in str(e)
    e = raises(ConfigError, Config.from_dict({"url": "ws://h", "cert": "c", "key": "k"}).validate)
    assert "wss://" in str(e)
    e = raises(ConfigError, Config.from_dict({"ca_certs": "ca"}).validate)
    assert "no credentials" in str(e)
    Config.from_dict({"cert": "c", "key": "k", "ca_certs": "ca"}).validate()


def test_configurator_hook_builds_config():
    c = Config.from_dict({"configurator": "test_config.sample_configurator", "ca_certs": "x"})
    c = build(c)
    assert c.shared_secret_key() == "nhd_from_hook"


def sample_configurator(cfg):
    cfg.shared_secret = {"key": "nhd_from_hook", "secret": "s"}


def test_configurator_missing_is_config_error():
    c = Config.from_dict({"configurator": "no_such_module_x.fn"})
    assert "not found" in str(raises(ConfigError, build, c))


def test_read_der_from_pem_and_der():
    der = bytes(range(40))
    path = TMP % "c.der"
    with open(path, "wb") as f:
        f.write(der)
    assert read_der(path) == der
    pem = ("-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJyg=\n"
           "-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nAQI=\n-----END CERTIFICATE-----\n")
    path = _write("c.pem", pem)
    got = read_der_list(path)
    assert got == [bytes(range(41)), b"\x01\x02"]
    e = raises(ConfigError, read_der, _write("bad.pem", "-----BEGIN X-----\nAAAA\n"))
    assert "no END" in str(e)


def test_download_ca_certs_paths_and_der():
    path = _write("dl.json", '{"ca_certs": "hub.der", "download_ca_certs": ["s3.pem", "/x/c.der"]}')
    c = Config.from_json_file(path)
    assert c.download_ca_certs == ["/tmp/s3.pem", "/x/c.der"]
    assert Config.from_dict({"download_ca_certs": "a.pem"}, "/etc").download_ca_certs == \
        "/etc/a.pem"
    lines = _capture()
    try:
        assert Config.from_dict({"download_ca_certs": [1]}).download_ca_certs is None
        assert Config.from_dict({"download_ca_certs": []}).download_ca_certs is None
    finally:
        log.set_sink(None)
    assert len([x for x in lines if "download_ca_certs" in x]) == 2
    with open(TMP % "hub.der", "wb") as f:
        f.write(b"\x30\x01")
    _write("s3.pem", "-----BEGIN CERTIFICATE-----\nAQI=\n-----END CERTIFICATE-----\n"
           "-----BEGIN CERTIFICATE-----\nAwQ=\n-----END CERTIFICATE-----\n")
    c = Config.from_dict({"ca_certs": TMP % "hub.der", "download_ca_certs": TMP % "s3.pem"})
    assert c.download_ca_der() == [b"\x30\x01", b"\x01\x02", b"\x03\x04"]
    assert Config.from_dict({"ca_certs": TMP % "hub.der"}).download_ca_der() == [b"\x30\x01"]
    assert Config().download_ca_der() is None
    c = Config.from_dict({"download_ca_certs": TMP % "missing.pem"})
    assert "missing.pem" in str(raises(ConfigError, c.download_ca_der))


def test_update_copies_the_callers_values():
    sock = {"reconnect_after_ms": "bad", "headers": [["X-A", "1"]]}
    params = {"tags": ["a"]}
    keys = ["k1="]
    lines = _capture()
    try:
        c = Config.from_dict({"socket": sock, "params": params, "fwup_public_keys": keys})
    finally:
        log.set_sink(None)
    assert any("reconnect_after_ms" in x for x in lines)
    assert sock == {"reconnect_after_ms": "bad", "headers": [["X-A", "1"]]}  # untouched
    c.params["tags"].append("b")
    c.socket["headers"][0][1] = "2"
    c.fwup_public_keys.append("k2=")
    assert params == {"tags": ["a"]} and keys == ["k1="] and sock["headers"] == [["X-A", "1"]]
    d = c.to_dict()
    d["params"]["tags"].append("c")
    assert c.params["tags"] == ["a", "b"]


def test_bad_socket_headers_are_dropped_with_a_warning():
    lines = _capture()
    try:
        c = Config.from_dict({"socket": {"headers": [
            ["X-Ok", "v"], ["X-Short"], "X-Str: v", ["Bad Name", "v"], ["X-N", 5],
            ["X-Crlf", "a\r\nInjected: 1"], ["", "v"], ["X-Ok2", ""]]}})
        bad = Config.from_dict({"socket": {"headers": {"X-A": "1"}}})
    finally:
        log.set_sink(None)
    assert c.socket["headers"] == [["X-Ok", "v"], ["X-Ok2", ""]]
    assert len([x for x in lines if "socket.headers" in x]) == 7
    assert bad.socket["headers"] == []


def test_ssl_options_are_gone_and_waive_nothing():
    # TLS verification is not switchable: "ssl" is an unknown key, and it no longer lets a
    # config through without credentials or over plain ws://
    lines = _capture()
    try:
        c = Config.from_dict({"ssl": {"verify": False, "insecure_ok": True}, "ca_certs": "ca"})
    finally:
        log.set_sink(None)
    assert not hasattr(c, "ssl") and any("'ssl'" in x for x in lines)
    assert "no credentials" in str(raises(ConfigError, c.validate))


def raising_configurator(cfg):
    raise KeyError("serial")


def returning_configurator(cfg):
    return {"not": "a config"}


def test_configurator_errors_are_config_errors_naming_the_hook():
    c = Config.from_dict({"configurator": "test_config.raising_configurator", "ca_certs": "x"})
    e = raises(ConfigError, build, c)
    assert "test_config.raising_configurator" in str(e) and "KeyError" in str(e)
    c = Config.from_dict({"configurator": "test_config.returning_configurator"})
    assert "not a Config" in str(raises(ConfigError, build, c))


def test_override_paths_stay_relative_to_the_current_directory():
    path = _write("o.json", '{"ca_certs": "ca.der", "cert": "c.der", "key": "k.der"}')
    c = Config.from_json_file(path, {"cert": "mine/c.der", "key": "/abs/k.der"})
    assert c.ca_certs == "/tmp/ca.der"  # from the file: next to it
    assert c.cert == "mine/c.der" and c.key == "/abs/k.der"  # flags: as typed
