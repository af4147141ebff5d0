"""Default answer to the server's ``identify``: blink the board LED.

``identify(hal)``: ``hal.identify()`` when the HAL has one; else blink ``hal.led`` or, on
boards whose ``machine`` module names an ``"LED"`` pin (Pico W, many ESP32 boards),
``machine.Pin("LED", machine.Pin.OUT)``; else nothing (the caller has logged it).
``blink(pin, times, period_ms, sleep_ms)`` toggles a pin object (``value(v)``) and
restores its level.
"""

import asyncio

BLINKS = 10
PERIOD_MS = 500

_running = []  # the blink task, so a second identify does not start another


def board_led():
    """``machine.Pin("LED", OUT)`` when this board has one, else None."""
    try:
        import machine  # portable: ok (MicroPython boards only)
    except ImportError:
        return None
    try:
        return machine.Pin("LED", machine.Pin.OUT)
    except (ValueError, TypeError, AttributeError):
        return None


async def _sleep(ms):
    await asyncio.sleep(ms / 1000)


async def blink(pin, times=BLINKS, period_ms=PERIOD_MS, sleep_ms=None):
    """Toggle *pin* *times* times (on for half a period, off for the other half)."""
    sleep_ms = sleep_ms or _sleep
    old = pin.value()
    try:
        for _ in range(times):
            pin.value(1)
            await sleep_ms(period_ms // 2)
            pin.value(0)
            await sleep_ms(period_ms - period_ms // 2)
    finally:
        pin.value(old)


def identify(hal, times=BLINKS, period_ms=PERIOD_MS):
    """Start identifying; returns the blink task, or None (HAL hook used, or no LED)."""
    fn = getattr(hal, "identify", None)
    if fn is not None:
        fn()
        return None
    led = getattr(hal, "led", None) or board_led()
    if led is None:
        return None
    if _running and not _running[0].done():
        return _running[0]
    task = asyncio.create_task(blink(led, times, period_ms, getattr(hal, "sleep_ms", None)))
    _running[:] = [task]
    return task
