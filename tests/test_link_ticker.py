"""The link's ticker sleeps until its next job (heartbeat, rejoin, liveness deadline) instead
of waking every second; the reader wakes it when a message moves a timer earlier."""

import asyncio

import pytest
from nerves_hub_link import link as link_mod
from nerves_hub_link.config import Config
from nerves_hub_link.link import Link


class Hal:
    def __init__(self):
        self.now = 100000

    def ticks_ms(self):
        return self.now

    def rand(self, n):
        return bytes(n)


@pytest.fixture
def waits(monkeypatch):
    """Record the ticker's timeouts (seconds) instead of sleeping."""
    got = []

    async def wait_for(aw, timeout):
        got.append(round(timeout * 1000))
        aw.close()
        raise asyncio.TimeoutError

    monkeypatch.setattr(link_mod.asyncio, "wait_for", wait_for)
    return got


def _link(hb, now_rx_age=0):
    hal = Hal()
    link = Link(Config(heartbeat_interval_ms=hb), hal)
    link._ch = link._new_channels()  # next heartbeat at now + hb
    link._last_rx = hal.now - now_rx_age
    return link, hal


def test_sleeps_until_the_next_heartbeat(waits):
    link, hal = _link(30000)
    asyncio.run(link._tick_sleep(61000))
    assert waits == [30000] and link._tick_until == hal.now + 30000


def test_sleeps_until_the_liveness_deadline_when_it_comes_first(waits):
    link, hal = _link(30000, now_rx_age=40000)
    hal.now += 20000  # the heartbeat is 10 s away; 61 s without a byte is 1001 ms away
    asyncio.run(link._tick_sleep(61000))
    assert waits == [1001]


def test_sleep_is_bounded_both_ways(waits):
    link, hal = _link(0)  # no heartbeat, no liveness, no rejoin pending
    asyncio.run(link._tick_sleep(0))
    link._ch._next_hb = hal.now - 5  # overdue: never a busy loop
    asyncio.run(link._tick_sleep(0))
    assert waits == [link_mod.MAX_TICK_MS, link_mod.MIN_TICK_MS]
