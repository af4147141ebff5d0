"""NH1 shared-secret authentication (spec section 2): client signer, server verifier.

The client sends four headers on the WebSocket upgrade: ``x-nh-alg``, ``x-nh-key``,
``x-nh-time`` and ``x-nh-signature`` (a Plug.Crypto ``sign`` token over the device
identifier, keyed by PBKDF2 of the secret over a salt built from the other three
headers). ``verify_shared_secret`` is the server side of the same check, with
NervesHub's clock rules, for the local simulator.

Times are passed in (Unix seconds to sign, Unix ms to verify); nothing here reads a
clock. Ports whose ``time.time()`` counts from 2000 use ``unix_time_from``.
Largest buffer: the token (about 100 bytes plus the identifier).
"""

import binascii
import struct

from nerves_hub_link.crypto.hmac import hmac_digest, pbkdf2_hmac
from nerves_hub_link.errors import AuthError, ConfigError

SIGNATURE_VERSION = "NH1"
DEFAULT_DIGEST = "sha256"
DEFAULT_ITERATIONS = 1000
DEFAULT_LENGTH = 32
TOKEN_MAX_AGE_S = 86400  # Plug.Crypto default written into the token (the server ignores it)
SERVER_MAX_AGE_S = 90  # server HEAD (60 on the 2024 server)
MAX_TOKEN_BYTES = 4096
EPOCH_2000_OFFSET = 946684800  # seconds from 1970-01-01 to 2000-01-01

SALT_PREFIX = "NH1:device-socket:shared-secret:connect\n\n"
_PROTECTED = {"SFMyNTY": "sha256", "SFMzODQ": "sha384", "SFM1MTI": "sha512"}  # HS256/384/512
_DIGESTS = {"sha": "sha1", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512"}
HEADER_NAMES = ("x-nh-alg", "x-nh-key", "x-nh-time", "x-nh-signature")


# ---- helpers ----------------------------------------------------------------

def b64url(data):
    """URL-safe base64 without padding (str)."""
    s = binascii.b2a_base64(bytes(data)).strip().decode()
    return s.replace("+", "-").replace("/", "_").rstrip("=")


def b64url_decode(text):
    """Inverse of ``b64url``; raises AuthError on bad input."""
    if not isinstance(text, str) or any(c not in _B64URL for c in text) or len(text) % 4 == 1:
        raise AuthError("bad base64url text %r" % (str(text)[:32],))
    s = text.replace("-", "+").replace("_", "/")
    try:
        return binascii.a2b_base64(s + "=" * (-len(s) % 4))
    except Exception:  # binascii.Error is ValueError on CPython, differs on MicroPython
        raise AuthError("bad base64url text %r" % (text[:32],))


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def unix_time_from(t, epoch_year=1970):
    """Unix seconds from a port's ``time.time()`` whose epoch is 1970 or 2000."""
    if epoch_year == 1970:
        return int(t)
    if epoch_year == 2000:
        return int(t) + EPOCH_2000_OFFSET
    raise ConfigError("unknown time epoch %r" % (epoch_year,), hint="use 1970 or 2000")


def _etf_int(n):
    if 0 <= n <= 255:
        return bytes((0x61, n))
    if -2147483648 <= n <= 2147483647:
        return b"\x62" + struct.pack(">i", n)
    mag = -n if n < 0 else n
    digits = bytearray()
    while mag:
        digits.append(mag & 0xFF)
        mag >>= 8
    if len(digits) > 255:
        raise AuthError("integer %r too large for SMALL_BIG_EXT" % n)
    return bytes((0x6E, len(digits), 1 if n < 0 else 0)) + bytes(digits)


def term_payload(identifier, signed_at_ms, max_age_s=TOKEN_MAX_AGE_S):
    """Erlang ``term_to_binary({identifier, signed_at_ms, max_age_s})``."""
    ident = identifier.encode() if isinstance(identifier, str) else bytes(identifier)
    return (b"\x83\x68\x03\x6d" + struct.pack(">I", len(ident)) + ident
            + _etf_int(signed_at_ms) + _etf_int(max_age_s))


def _read_int(data, i):
    tag = data[i]
    if tag == 0x61:
        return data[i + 1], i + 2
    if tag == 0x62:
        return struct.unpack(">i", data[i + 1:i + 5])[0], i + 5
    if tag == 0x6E:
        n, sign = data[i + 1], data[i + 2]
        mag = 0
        for k in range(n - 1, -1, -1):
            mag = (mag << 8) | data[i + 3 + k]
        return (-mag if sign else mag), i + 3 + n
    raise AuthError("token payload: expected an integer at offset %d, got tag 0x%02x" % (i, tag))


def parse_term_payload(data):
    """Decode the 3-tuple of ``term_payload``; anything else raises AuthError."""
    try:
        if data[:4] != b"\x83\x68\x03\x6d":
            raise AuthError("token payload is not {binary, int, int}: %r" % bytes(data[:16]))
        n = struct.unpack(">I", data[4:8])[0]
        if 8 + n > len(data):
            raise AuthError("token payload: identifier length %d past the end" % n)
        ident = bytes(data[8:8 + n])
        signed_at, i = _read_int(data, 8 + n)
        max_age, i = _read_int(data, i)
        if i != len(data):
            raise AuthError("token payload: %d trailing bytes" % (len(data) - i))
        return ident.decode(), signed_at, max_age
    except (IndexError, ValueError, UnicodeError):
        raise AuthError("token payload is malformed: %r" % bytes(data[:32]))


def algorithm(digest=DEFAULT_DIGEST, iterations=DEFAULT_ITERATIONS, length=DEFAULT_LENGTH):
    """``x-nh-alg`` value, e.g. ``NH1-HMAC-sha256-1000-32``."""
    return "%s-HMAC-%s-%d-%d" % (SIGNATURE_VERSION, digest, iterations, length)


def salt(alg, key, unix_time):
    """The PBKDF2 salt text (spec 2.3 step 2); ``unix_time`` as sent in ``x-nh-time``."""
    return "%sx-nh-alg=%s\nx-nh-key=%s\nx-nh-time=%s\n" % (SALT_PREFIX, alg, key, unix_time)


def _pbkdf2_name(digest):
    name = _DIGESTS.get(str(digest).lower())
    if name is None:
        raise AuthError("unsupported NH1 key digest %r" % (digest,),
                        hint="use sha256 (default), sha512 or sha")
    return name


def sign_token(secret, salt_text, identifier, unix_time, digest=DEFAULT_DIGEST,
               iterations=DEFAULT_ITERATIONS, length=DEFAULT_LENGTH):
    """Plug.Crypto.sign(secret, salt, identifier, signed_at: t) token (str)."""
    sec = secret.encode() if isinstance(secret, str) else bytes(secret)
    key = pbkdf2_hmac(_pbkdf2_name(digest), sec, salt_text.encode(), iterations, length)
    signed = "SFMyNTY." + b64url(term_payload(identifier, int(unix_time) * 1000))
    return signed + "." + b64url(hmac_digest(key, signed.encode(), "sha256"))


def shared_secret_headers(key, secret, identifier, unix_time, digest=DEFAULT_DIGEST,
                          iterations=DEFAULT_ITERATIONS, length=DEFAULT_LENGTH):
    """The four ``x-nh-*`` upgrade headers as ``[(name, value), ...]``.

    Sign right before each connection attempt: the server accepts ``unix_time`` only
    within its max_age (90 s) and rejects times ahead of its own clock.
    """
    if not key or not secret:
        raise ConfigError("NH1 needs a key and a secret",
                          hint="set nh_shared_key/nh_shared_secret (or product key/secret)")
    if not isinstance(identifier, str) or not identifier:
        raise ConfigError("NH1 needs a device identifier (serial number), got %r"
                          % (identifier,))
    t = int(unix_time)
    alg = algorithm(digest, iterations, length)
    token = sign_token(secret, salt(alg, key, t), identifier, t, digest, iterations, length)
    return [("x-nh-alg", alg), ("x-nh-key", key), ("x-nh-time", str(t)),
            ("x-nh-signature", token)]


def signing_time(device_unix, server_hint=None):
    """Unix seconds to sign with: the device clock, or a later server ``Date`` hint."""
    if server_hint is not None and server_hint > device_unix:
        return int(server_hint)
    return int(device_unix)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_http_date(value):
    """Unix seconds from an IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), else None."""
    try:
        parts = value.split()
        if len(parts) != 6 or parts[5] != "GMT" or not parts[0].endswith(","):
            return None
        day, year = int(parts[1]), int(parts[3])
        month = _MONTHS.index(parts[2]) + 1
        hh, mm, ss = (int(x) for x in parts[4].split(":"))
        if not (1 <= day <= 31 and hh < 24 and mm < 60 and ss < 61):
            return None
    except (AttributeError, ValueError):
        return None
    # days from civil (proleptic Gregorian)
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + hh * 3600 + mm * 60 + ss


# ---- server side -------------------------------------------------------------

def _header_map(headers):
    items = headers.items() if isinstance(headers, dict) else headers
    out = {}
    for k, v in items:
        k = k.lower()
        if k in HEADER_NAMES and k not in out:
            out[k] = v
    return out


def parse_algorithm(alg):
    """``(digest, iterations, length)`` from ``x-nh-alg`` as the server reads it."""
    prefix = SIGNATURE_VERSION + "-HMAC-"
    if not isinstance(alg, str) or not alg.startswith(prefix):
        raise AuthError("x-nh-alg %r does not start with %r" % (alg, prefix))
    parts = alg[len(prefix):].split("-")
    if len(parts) != 3:
        raise AuthError("x-nh-alg %r: expected digest-iterations-length" % alg)
    digest = parts[0].lower()
    if not _is_plain_int(parts[1]) or not _is_plain_int(parts[2]):
        raise AuthError("x-nh-alg %r: iterations and length must be integers" % alg)
    iterations, length = int(parts[1]), int(parts[2])
    if not (1 <= iterations <= 100000 and 1 <= length <= 128):
        raise AuthError("x-nh-alg %r: iterations or length out of range" % alg)
    return _pbkdf2_name(digest), iterations, length


def _is_plain_int(s):
    return bool(s) and all(c in "0123456789" for c in s) and (s == "0" or s[0] != "0")


def _same(a, b):
    """Constant-time comparison of two byte strings."""
    if len(a) != len(b):
        return False
    acc = 0
    for i in range(len(a)):
        acc |= a[i] ^ b[i]
    return acc == 0


def verify_shared_secret(headers, lookup_secret, now_ms, max_age=SERVER_MAX_AGE_S,
                         max_future_ms=0):
    """Check NH1 headers the way NervesHub does; return the signed identifier (str).

    ``lookup_secret(key)`` returns the secret for an access key, or None when the key
    is unknown. The token is expired when ``signed_at_ms + max_age * 1000 < now_ms``
    and invalid when ``signed_at_ms > now_ms + max_future_ms`` (plug_crypto 2.2 uses 0).
    Raises AuthError naming the failed check.
    """
    h = _header_map(headers)
    missing = [n for n in HEADER_NAMES if n not in h]
    if missing:
        raise AuthError("missing NH1 header(s) %s" % ", ".join(missing))
    alg, key, t, token = h["x-nh-alg"], h["x-nh-key"], h["x-nh-time"], h["x-nh-signature"]
    digest, iterations, length = parse_algorithm(alg)
    if not _is_plain_int(t):
        raise AuthError("x-nh-time %r is not a plain integer" % (t[:32],))
    secret = lookup_secret(key)
    if secret is None:
        raise AuthError("unknown access key %r" % (key[:40],))
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthError("x-nh-signature longer than %d bytes" % MAX_TOKEN_BYTES)
    parts = token.split(".")
    if len(parts) != 3 or parts[0] not in _PROTECTED:
        raise AuthError("x-nh-signature is not a Plug.Crypto token: %r" % token[:32])
    mac_digest = _PROTECTED[parts[0]]
    if mac_digest not in ("sha256", "sha512"):
        raise AuthError("token MAC %s is not supported here" % mac_digest)
    sec = secret.encode() if isinstance(secret, str) else bytes(secret)
    derived = pbkdf2_hmac(digest, sec, salt(alg, key, t).encode(), iterations, length)
    signed = (parts[0] + "." + parts[1]).encode()
    if not _same(hmac_digest(derived, signed, mac_digest), b64url_decode(parts[2])):
        raise AuthError("bad NH1 signature for key %r" % key[:40],
                        hint="check the secret and that x-nh-* match what was signed")
    ident, signed_at, _ = parse_term_payload(b64url_decode(parts[1]))
    if signed_at + max_age * 1000 < now_ms:
        raise AuthError("NH1 signature expired: signed at %d ms, now %d ms, max_age %d s"
                        % (signed_at, now_ms, max_age), hint="sign right before connecting")
    if signed_at > now_ms + max_future_ms:
        raise AuthError("NH1 signature from the future: signed at %d ms, server now %d ms"
                        % (signed_at, now_ms), hint="the device clock runs ahead; sync it")
    return ident
