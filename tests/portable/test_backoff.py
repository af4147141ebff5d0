# heapsize: 256K
# Backoff delay lists, spec section 7.
from nerves_hub_link import log
from nerves_hub_link.backoff import delay_for, delay_list, round_half_away, spread_first


class Counter:
    """Deterministic rand(n): bytes from a simple LCG, so the jitter tests are repeatable."""

    def __init__(self, seed=1):
        self.x = seed

    def __call__(self, n):
        out = bytearray(n)
        for i in range(n):
            self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
            out[i] = (self.x >> 16) & 0xFF
        return bytes(out)


def const(byte):
    return lambda n: bytes([byte]) * n


def test_spec_vectors_without_jitter():
    assert delay_list(1000, 60000, 0) == [1000, 2000, 4000, 8000, 16000, 32000, 60000]
    assert delay_list(1000, 8000, 0) == [1000, 2000, 4000, 8000]
    assert delay_list(1000, 1500, 0) == [1000, 1500]
    assert delay_list(500, 500, 0) == [500]


def test_jitter_bounds_extremes():
    assert delay_list(1000, 8000, 0.25, rand=const(0)) == [1000, 2000, 4000, 8000]
    # U = 0xFFFFFF / 2**24 just below 1: each element just below 1.25 * v
    assert delay_list(1000, 8000, 0.25, rand=const(0xFF)) == [1250, 2500, 5000, 10000]
    # U = 0.5 exactly: 1000 * 1.125 = 1125
    half = lambda n: bytes([0x80] + [0] * (n - 1))  # noqa: E731
    assert delay_list(1000, 1000, 0.25, rand=half) == [1125]


def test_jitter_stays_in_bounds_and_averages_one_eighth():
    r = Counter(7)
    total = 0.0
    count = 0
    for _ in range(300):
        lst = delay_list(1000, 60000, 0.25, rand=r)
        assert len(lst) == 7
        for i, base in enumerate([1000, 2000, 4000, 8000, 16000, 32000, 60000]):
            got = lst[i]
            assert base <= got <= base * 1.25, (got, base)
            total += (got - base) / base
            count += 1
    assert abs(total / count - 0.125) < 0.04


def test_round_half_away_from_zero():
    assert round_half_away(2.5) == 3 and round_half_away(3.5) == 4
    assert round_half_away(-2.5) == -3 and round_half_away(2.49) == 2


def test_invalid_config_warns_and_uses_defaults():
    lines = []
    old = log.set_sink(lines.append)
    try:
        lst = delay_list(0, 60000, 0.5, rand=const(0))
        assert lst == [1000, 2000, 4000, 8000, 16000, 32000, 60000]
        assert delay_list(5000, 1000, 0, rand=const(0)) == lst
        assert delay_list(1000, 2000, -1, rand=const(0)) == lst
        assert delay_list("1000", 2000, 0, rand=const(0)) == lst
    finally:
        log.set_sink(old)
    assert len(lines) == 4 and "warning" in lines[0] and "delay_list(0, 60000, 0.5)" in lines[0]


def test_default_randomness():
    lst = delay_list(1000, 4000, 0.5)
    assert len(lst) == 3 and 1000 <= lst[0] <= 1500 and 4000 <= lst[2] <= 6000


def test_delay_for_repeats_last():
    d = [1, 2, 3]
    assert [delay_for(d, i) for i in range(5)] == [1, 2, 3, 3, 3]
    assert delay_for([], 3) == 1000


def _counter_rand():
    state = [0]

    def rand(n):
        state[0] += 1
        return bytes([(state[0] * 37 + i * 101) & 0xFF for i in range(n)])

    return rand


def test_spread_first_draws_the_first_retry_from_the_window():
    delays = delay_list(1000, 60000, 0)
    rand = _counter_rand()
    firsts = [spread_first(delays, 40000, rand)[0] for _ in range(200)]
    assert all(1000 <= f < 40000 for f in firsts)
    assert max(firsts) - min(firsts) > 30000  # spread over the window, not bunched
    assert spread_first(delays, 40000, rand)[1:] == delays[1:]


def test_spread_first_leaves_short_windows_and_empty_lists_alone():
    assert spread_first([5000, 6000], 4000) == [5000, 6000]
    assert spread_first([], 40000) == []
