# heapsize: 128K
# fwup_progress throttle: first value always, then whole-percent rises >= 500 ms apart.
from nerves_hub_link.progress import ProgressThrottle, percent


def test_first_value_always_sent():
    t = ProgressThrottle()
    assert t.offer(0, 1000) == 0
    t = ProgressThrottle()
    assert t.offer(37.4, 5) == 37


def test_needs_a_rise_and_500_ms():
    t = ProgressThrottle()
    assert t.offer(1, 0) == 1
    assert t.offer(5, 499) is None  # too soon
    assert t.offer(5, 500) == 5
    assert t.offer(5, 2000) is None  # no rise
    assert t.offer(4, 3000) is None  # never backwards
    assert t.offer(5.4, 3000) is None  # rounds to 5: not a whole-percent rise
    assert t.offer(5.5, 3000) == 6  # half rounds up, like Elixir's round/1
    assert t.offer(250, 9000) == 100


def test_reset_starts_over():
    t = ProgressThrottle(min_interval_ms=100)
    assert t.offer(50, 0) == 50
    t.reset()
    assert t.offer(3, 1) == 3


def test_percent():
    assert percent(0, 0) == 0 and percent(5, None) == 0
    assert percent(1, 3) == 33 and percent(3, 3) == 100 and percent(9, 3) == 100
    assert percent(1048575, 1048576) == 99


def test_held_back_rise_becomes_due_after_the_interval():
    t = ProgressThrottle()
    assert t.offer(0, 0) == 0
    assert t.offer(40, 100) is None and t.pending == 40
    assert t.wait_ms(100) == 400
    assert t.offer(45, 200) is None and t.pending == 45
    assert t.due(499) is None
    assert t.due(500) == 45 and t.pending is None
    assert t.due(2000) is None and t.wait_ms(2000) is None
    assert t.offer(45, 3000) is None and t.pending is None  # no rise: nothing pending
