"""Progress throttle for ``fwup_progress`` pushes (NervesHubLink >= 2.9 rule).

The first value is always sent; later ones only when the whole percent rose above the last
sent one *and* at least ``min_interval_ms`` passed since it. Time is passed in.
Largest buffer: none.
"""

MIN_INTERVAL_MS = 500


def percent(done, total):
    """Whole percent of ``done`` out of ``total`` (0 when total is unknown), clamped to 0..100."""
    if not total or total <= 0:
        return 0
    if done >= total:
        return 100
    if done <= 0:
        return 0
    return done * 100 // total


class ProgressThrottle:
    """Decides which progress values are worth sending.

    ``offer(value, now_ms)`` returns the integer percent to send, or None to stay quiet.
    """

    def __init__(self, min_interval_ms=MIN_INTERVAL_MS):
        self.min_interval_ms = min_interval_ms
        self.reset()

    def reset(self):
        self.last = None
        self.last_ms = 0

    def offer(self, value, now_ms):
        v = int(value + 0.5) if value >= 0 else 0  # round half up, like Elixir's round/1
        if v > 100:
            v = 100
        if self.last is not None:
            if v <= self.last or now_ms - self.last_ms < self.min_interval_ms:
                return None
        self.last = v
        self.last_ms = now_ms
        return v
