# heapsize: 512K
# NH1 shared-secret signing: spec 2.6 vectors, and the server-side checks of spec 2.4.
import binascii

from nerves_hub_link.auth import (
    algorithm,
    b64url,
    b64url_decode,
    parse_http_date,
    parse_term_payload,
    salt,
    shared_secret_headers,
    signing_time,
    term_payload,
    unix_time_from,
    verify_shared_secret,
)
from nerves_hub_link.crypto.hmac import pbkdf2_hmac
from nerves_hub_link.errors import AuthError, ConfigError
from support import raises

V1_TOKEN = ("SFMyNTY.g2gDbQAAAA10bmgtdW5pdC10ZXN0bgYAAGjlz4sBYgABUYA."
            "UjN7CG034TdyV5umEWbY-4eTRoZ7MXgQlCQHo5mlniY")
V2_TOKEN = ("SFMyNTY.g2gDbQAAAAtkZXZpY2UtMTIzNG4GAACcxwCQAWIAAVGA."
            "6UKzaxZqcpdJm4ldpu_QCKDWebYIUXIS56jYZ4gRouI")
SECRETS = {"nhp_test": "test-secret", "nhd_abc": "devsecret"}


def unhex(s):
    return binascii.unhexlify(s)


def test_vector1_parts():
    alg = algorithm()
    assert alg == "NH1-HMAC-sha256-1000-32"
    s = salt(alg, "nhp_test", 1700000000)
    assert s == ("NH1:device-socket:shared-secret:connect\n\nx-nh-alg=NH1-HMAC-sha256-1000-32\n"
                 "x-nh-key=nhp_test\nx-nh-time=1700000000\n")
    assert pbkdf2_hmac("sha256", b"test-secret", s.encode(), 1000, 32) == unhex(
        "26195c939650b82c562359463f755552b7c82359ecebfcd54e8a88cdad037e87")
    assert term_payload("tnh-unit-test", 1700000000 * 1000) == unhex(
        "8368036d0000000d746e682d756e69742d746573746e06000068e5cf8b016200015180")


def test_vector1_headers():
    assert shared_secret_headers("nhp_test", "test-secret", "tnh-unit-test", 1700000000) == [
        ("x-nh-alg", "NH1-HMAC-sha256-1000-32"),
        ("x-nh-key", "nhp_test"),
        ("x-nh-time", "1700000000"),
        ("x-nh-signature", V1_TOKEN),
    ]


def test_vector2_device_key():
    h = shared_secret_headers("nhd_abc", "devsecret", "device-1234", 1718000000)
    assert h[3] == ("x-nh-signature", V2_TOKEN)
    assert term_payload("device-1234", 1718000000000) == unhex(
        "8368036d0000000b6465766963652d313233346e0600009cc70090016200015180")


def test_term_payload_integer_encodings():
    assert term_payload("a", 7, 86400)[-7:] == b"\x61\x07\x62\x00\x01\x51\x80"
    assert term_payload("a", 300)[-10:-5] == b"\x62\x00\x00\x01\x2c"
    assert parse_term_payload(term_payload("dev", 1700000000000)) == ("dev", 1700000000000, 86400)
    raises(AuthError, parse_term_payload, b"\x83\x68\x03\x6d\x00\x00\x00\x09ab")
    raises(AuthError, parse_term_payload, term_payload("x", 5) + b"\x00")


def test_b64url_round_trip():
    for n in range(0, 10):
        data = bytes(range(250, 250 - n, -1))
        enc = b64url(data)
        assert "=" not in enc and "+" not in enc and "/" not in enc
        assert b64url_decode(enc) == data
    raises(AuthError, b64url_decode, "a+b")
    raises(AuthError, b64url_decode, "abcde")


def test_verify_accepts_spec_vector_within_max_age():
    h = shared_secret_headers("nhp_test", "test-secret", "tnh-unit-test", 1700000000)
    now = 1700000000 * 1000
    assert verify_shared_secret(h, SECRETS.get, now) == "tnh-unit-test"
    assert verify_shared_secret(h, SECRETS.get, now + 90000) == "tnh-unit-test"
    # header names are case-insensitive and order does not matter; dicts work too
    swapped = [(k.upper(), v) for k, v in reversed(h)]
    assert verify_shared_secret(swapped, SECRETS.get, now) == "tnh-unit-test"
    assert verify_shared_secret(dict(h), SECRETS.get, now) == "tnh-unit-test"


def test_verify_clock_window():
    h = shared_secret_headers("nhd_abc", "devsecret", "device-1234", 1718000000)
    now = 1718000000 * 1000
    e = raises(AuthError, verify_shared_secret, h, SECRETS.get, now + 90001)
    assert "expired" in e.message
    e = raises(AuthError, verify_shared_secret, h, SECRETS.get, now - 1)
    assert "future" in e.message
    assert verify_shared_secret(h, SECRETS.get, now - 1, max_future_ms=5000) == "device-1234"
    raises(AuthError, verify_shared_secret, h, SECRETS.get, now + 60001, max_age=60)


def _tamper(name, value):
    h = dict(shared_secret_headers("nhp_test", "test-secret", "tnh-unit-test", 1700000000))
    h[name] = value
    return h


def test_verify_rejections():
    now = 1700000000000
    cases = [
        (_tamper("x-nh-time", "1700000001"), "bad NH1 signature"),
        (_tamper("x-nh-time", "01700000000"), "plain integer"),
        (_tamper("x-nh-key", "nhp_other"), "unknown access key"),
        (_tamper("x-nh-alg", "NH2-HMAC-sha256-1000-32"), "does not start"),
        (_tamper("x-nh-alg", "NH1-HMAC-sha256-1000"), "digest-iterations-length"),
        (_tamper("x-nh-alg", "NH1-HMAC-md5-1000-32"), "unsupported"),
        (_tamper("x-nh-alg", "NH1-HMAC-sha256-x-32"), "integers"),
        (_tamper("x-nh-signature", V1_TOKEN[:-2] + "AA"), "bad NH1 signature"),
        (_tamper("x-nh-signature", "abc"), "not a Plug.Crypto token"),
        (_tamper("x-nh-signature", "SFMyNTY.abc.!!"), "base64url"),
    ]
    for headers, text in cases:
        e = raises(AuthError, verify_shared_secret, headers, SECRETS.get, now)
        assert text in e.message, (text, e.message)
    h = dict(shared_secret_headers("nhp_test", "test-secret", "tnh-unit-test", 1700000000))
    del h["x-nh-time"]
    assert "x-nh-time" in raises(AuthError, verify_shared_secret, h, SECRETS.get, now).message
    e = raises(AuthError, verify_shared_secret,
               shared_secret_headers("nhp_test", "wrong", "tnh-unit-test", 1700000000),
               SECRETS.get, now)
    assert "bad NH1 signature" in e.message


def test_uppercase_digest_in_alg_is_lowercased_by_server():
    h = _tamper("x-nh-alg", "NH1-HMAC-SHA256-1000-32")
    # the salt is rebuilt from the received text, so the old signature no longer matches
    raises(AuthError, verify_shared_secret, h, SECRETS.get, 1700000000000)


def test_config_errors():
    raises(ConfigError, shared_secret_headers, "", "s", "id", 1)
    raises(ConfigError, shared_secret_headers, "k", "s", None, 1)


def test_epoch_and_signing_time():
    assert unix_time_from(0, 2000) == 946684800
    assert unix_time_from(1700000000, 1970) == 1700000000
    raises(ConfigError, unix_time_from, 5, 1980)
    assert signing_time(1000, 2000) == 2000
    assert signing_time(1000, 500) == 1000
    assert signing_time(1000, None) == 1000


def test_parse_http_date():
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777
    assert parse_http_date("Thu, 03 Jan 2030 12:34:56 GMT") == 1893674096
    assert parse_http_date("2030-01-03 12:34:56Z") is None
    assert parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT") is None
    assert parse_http_date(None) is None
