"""Reconnect backoff (spec section 7): pure, capped, jittered delay lists.

``delay_list(1000, 60000, 0)`` is ``[1000, 2000, 4000, 8000, 16000, 32000, 60000]``;
with jitter each element ``v`` becomes ``round(v * (1 + jitter * U))``, U uniform in
[0, 1), rounded half away from zero. ``delay_for(delays, attempt)`` picks the delay
for the n-th reconnect attempt (the last one repeats). ``spread_first`` spreads the first
retry of a fleet over a window so a server restart is not met by every device in the same
second. No clock is read.
"""

from nerves_hub_link import log

DEFAULT_MIN_MS = 1000
DEFAULT_MAX_MS = 60000
DEFAULT_JITTER = 0.5
FLEET_SPREAD_MS = 40000  # first retry uniform in [min, this]: <= 5 % of a fleet per second
MAX_ELEMENTS = 64  # doubling from 1 ms reaches any 31-bit max well before this
_U_BITS = 24  # resolution of U: exact in a single-precision float


def round_half_away(x):
    """``round`` as Elixir does it: halves go away from zero (Python rounds to even)."""
    if x >= 0:
        return int(x + 0.5)
    return -int(-x + 0.5)


def _uniform(rand):
    """U in [0, 1) from 3 random bytes."""
    b = rand(3)
    return ((b[0] << 16) | (b[1] << 8) | b[2]) / float(1 << _U_BITS)


def _valid(min_ms, max_ms, jitter):
    num = (int, float)
    return (isinstance(min_ms, int) and isinstance(max_ms, int) and isinstance(jitter, num)
            and not isinstance(min_ms, bool) and not isinstance(max_ms, bool)
            and 0 < min_ms <= max_ms and jitter >= 0)


def delay_list(min_ms, max_ms, jitter, rand=None):
    """Delays in ms: ``min_ms`` doubling while below ``max_ms``, then ``max_ms``.

    ``rand(n) -> n random bytes`` drives the jitter (``os.urandom`` if None and
    jitter > 0). Invalid arguments log a warning and give the default list
    ``delay_list(1000, 60000, 0.5)``.
    """
    if not _valid(min_ms, max_ms, jitter):
        log.warning("backoff: invalid delay_list(%r, %r, %r) (need 0 < min <= max, jitter >= 0);"
                    " using defaults (%d, %d, %s)", min_ms, max_ms, jitter,
                    DEFAULT_MIN_MS, DEFAULT_MAX_MS, DEFAULT_JITTER)
        min_ms, max_ms, jitter = DEFAULT_MIN_MS, DEFAULT_MAX_MS, DEFAULT_JITTER
    if jitter and rand is None:
        import os  # portable: ok (randomness only when the caller gave none)

        rand = os.urandom

    def j(x):
        if not jitter:
            return x
        return round_half_away(x * (1 + jitter * _uniform(rand)))

    out = []
    v = min_ms
    while v < max_ms and len(out) < MAX_ELEMENTS:
        out.append(j(v))
        v *= 2
    out.append(j(max_ms))
    return out


def delay_for(delays, attempt):
    """Delay for reconnect ``attempt`` (0-based); the last element repeats."""
    if not delays:
        return DEFAULT_MIN_MS
    return delays[attempt] if 0 <= attempt < len(delays) else delays[-1]


def spread_first(delays, spread_ms, rand=None):
    """``delays`` with its first element drawn uniformly from ``[delays[0], spread_ms]``.

    When a server drops every device at once, NervesHubLink's list sends the whole fleet
    back within 1-1.5 s; drawing the first retry over ``spread_ms`` keeps the busiest second
    near ``1000 / (spread_ms - delays[0])`` of the fleet. Later retries keep the list.
    """
    if not delays or spread_ms <= delays[0]:
        return delays
    if rand is None:
        import os  # portable: ok (randomness only when the caller gave none)

        rand = os.urandom
    first = delays[0] + int((spread_ms - delays[0]) * _uniform(rand))
    return [first] + delays[1:]
