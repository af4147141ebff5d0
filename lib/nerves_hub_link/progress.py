"""Progress throttle for ``fwup_progress`` pushes (NervesHubLink >= 2.9 rule).

The first value is always sent; later ones only when the whole percent rose above the last
sent one *and* at least ``min_interval_ms`` passed since it. A rise held back only by the
interval is kept as ``pending``; ``due(now_ms)`` hands it out once the interval is over, so
a stalled transfer still shows how far it got (NervesHubLink just drops it). Time is passed
in. Largest buffer: none.
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
        """Forget what was sent (a new update starts)."""
        self.last = None
        self.last_ms = 0
        self.pending = None

    def offer(self, value, now_ms):
        """The whole percent to send for ``value`` at ``now_ms``, or None."""
        v = int(value + 0.5) if value >= 0 else 0  # round half up, like Elixir's round/1
        if v > 100:
            v = 100
        if self.last is not None:
            if v <= self.last:
                return None
            if now_ms - self.last_ms < self.min_interval_ms:
                self.pending = v
                return None
        self.last = v
        self.last_ms = now_ms
        self.pending = None
        return v

    def wait_ms(self, now_ms):
        """Milliseconds until ``pending`` may be sent (None when nothing is pending)."""
        if self.pending is None:
            return None
        return max(0, self.min_interval_ms - (now_ms - self.last_ms))

    def due(self, now_ms):
        """The pending value if its interval is over (it is then sent), else None."""
        if self.pending is None or now_ms - self.last_ms < self.min_interval_ms:
            return None
        return self.offer(self.pending, now_ms)
