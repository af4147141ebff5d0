# heapsize: 256K
"""The device config's ``download`` object becomes the downloader's ``RetryConfig``."""
from nerves_hub_link import log
from nerves_hub_link.config import Config

PATH = "/tmp/nhl_test_config_download.json"


def _load(data):
    lines = []
    log.set_sink(lines.append)
    try:
        cfg = Config.from_dict(data)
        retry = cfg.download_retry()
    finally:
        log.set_sink(None)
    return cfg, retry, [x for x in lines if "[warning]" in x]


def _values(r):
    return (r.max_disconnects, r.idle_timeout, r.max_timeout, r.time_between_retries,
            r.worst_case_download_speed)


def test_absent_download_keeps_nerves_hub_link_defaults():
    cfg, retry, warnings = _load({})
    assert cfg.download == {} and warnings == []
    assert _values(retry) == (10, 60000, 86400000, 15000, 30000)


def test_every_key_maps_to_its_retry_option():
    _, retry, warnings = _load({"download": {
        "max_disconnects": 3, "idle_timeout_ms": 1500, "max_timeout_ms": 600000,
        "time_between_retries_ms": 0, "worst_case_download_speed": 8000}})
    assert warnings == []
    assert _values(retry) == (3, 1500, 600000, 0, 8000)


def test_partial_download_keeps_the_other_defaults():
    _, retry, _ = _load({"download": {"idle_timeout_ms": 30000}})
    assert _values(retry) == (10, 30000, 86400000, 15000, 30000)


def test_bad_and_unknown_keys_warn_and_fall_back():
    data = {"download": {"idle_timeout_ms": 0, "max_disconnects": True, "max_timeout_ms": "1h",
                         "time_between_retries_ms": -1, "idle_timeout": 5000,
                         "worst_case_download_speed": 9600}}
    cfg, retry, warnings = _load(data)
    assert _values(retry) == (10, 60000, 86400000, 15000, 9600)
    assert len(warnings) == 5, warnings
    text = "\n".join(warnings)
    for k in ("idle_timeout_ms=0", "max_disconnects=True", "max_timeout_ms='1h'",
              "time_between_retries_ms=-1", "download.idle_timeout unknown"):
        assert k in text, (k, text)
    assert cfg.download == {"worst_case_download_speed": 9600}
    assert len(data["download"]) == 6  # the caller's mapping is not edited


def test_download_that_is_not_an_object_is_the_default():
    cfg, retry, warnings = _load({"download": [1500]})
    assert cfg.download == {} and len(warnings) == 1 and "download=[1500]" in warnings[0]
    assert retry.idle_timeout == 60000


def test_download_from_a_json_file_and_an_override():
    with open(PATH, "w") as f:
        f.write('{"download": {"idle_timeout_ms": 2000, "time_between_retries_ms": 20}}')
    cfg = Config.from_json_file(PATH)
    assert _values(cfg.download_retry()) == (10, 2000, 86400000, 20, 30000)
    cfg = Config.from_json_file(PATH, {"download": {"max_disconnects": 2}})
    assert _values(cfg.download_retry()) == (2, 60000, 86400000, 15000, 30000)
    assert cfg.to_dict()["download"] == {"max_disconnects": 2}
