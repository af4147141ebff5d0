"""ATECC508A/608A I2C transport: wake/idle/sleep, command groups, polling, status decoding, retries.

Works on any HAL I2C object with ``writeto(addr, buf)`` and ``readfrom_into(addr, buf)``
(raising ``OSError`` on a missing ACK) and, optionally, ``wake()`` (how that bus holds SDA
low for >= 60 us; default: write ``00`` to address 0 and ignore the NACK, which needs the
bus at <= 100 kHz). Time comes in as ``sleep_ms(n)`` and ``ticks_ms()`` (plus
``ticks_diff`` on ports whose ticks wrap).

Retry policy (``request``, same as the Elixir driver): each attempt is a full wake window
(wake, commands, Sleep -- Sleep is sent even after an error). An error whose ``retryable``
is true (missing ACK, response CRC/length error, poll timeout, unexpected wake reply,
statuses 0x03/0x05/0x11/0xEE/0xFF/unknown) is retried after ``retry_delay_ms`` (100) until
``retry_budget_ms`` (1000) have passed; then the last error is raised with the attempt
count added. Statuses 0x01/0x07/0x08/0x0F are final and raised at once.

Largest buffers: 156-byte command frame, 67-byte response (both preallocated).
"""

from nerves_hub_link.errors import NervesKeyError

from .commands import TIMING_ANY
from .crc import crc16
from .errors import (
    ChipTimeoutError,
    CrcError,
    ExecutionError,
    NoAckError,
    ResponseError,
    SelfTestError,
    StatusError,
    WakeError,
    WatchdogError,
)

ADDRESS = 0x60
WORD_RESET = 0x00
WORD_SLEEP = 0x01
WORD_IDLE = 0x02
WORD_COMMAND = 0x03
WAKE_REPLY = b"\x04\x11\x33\x43"
WAKE_DELAY_MS = 2  # tWHI >= 1.5 ms; whole milliseconds, so 2
POLL_MS = 1
RETRY_DELAY_MS = 100
RETRY_BUDGET_MS = 1000
WATCHDOG_MIN_MS = 700  # tWATCHDOG is 0.7..1.7 s after the wake
MAX_GROUP = 155
MAX_RESPONSE = 64

# status -> (text, retryable); 0x0F, 0x07 and 0xEE have their own classes.
_STATUS = {
    0x01: ("CheckMac/Verify miscompare", False),
    0x03: ("parse error: the chip rejected the command's length, opcode or parameters", True),
    0x05: ("ECC fault while computing", True),
    0x07: ("self-test failure", False),
    0x08: ("random-number generator health test failed", False),
    0x0F: ("execution error: the command is not allowed in the chip's current state "
           "(zone unlocked, secret slot, TempKey not valid ...)", False),
    0x11: ("the chip is awake but did not receive the command", True),
    0xEE: ("watchdog about to expire: the command did not fit in the wake window", True),
    0xFF: ("the chip saw a CRC or communication error in our command", True),
}


def status_error(status, what):
    """The exception for a non-zero status byte answered to command ``what``."""
    text, retry = _STATUS.get(status, ("unexpected status", True))
    msg = "%s: status 0x%02x, %s" % (what, status, text)
    if status == 0x0F:
        return ExecutionError(msg, status, hint="check lock_status(); data and OTP zones are "
                              "readable only after provisioning locks them")
    if status == 0xEE:
        return WatchdogError(msg, status)
    if status == 0x07:
        return SelfTestError(msg, status, hint="power-cycle the chip")
    e = StatusError(msg, status)
    e.retryable = retry
    return e


def _sub(a, b):
    return a - b


class _Window:
    def __init__(self, t):
        self.t = t

    def __enter__(self):
        self.t.wake()
        return self.t

    def __exit__(self, *exc):
        self.t.sleep()
        return False


class Transport:
    """One ATECC chip on one bus.

    ``timing`` maps opcode -> (typical_ms, max_ms); until the chip type is known it is
    ``commands.TIMING_ANY`` (the longest of the 508A and 608 tables).
    """

    def __init__(self, i2c, sleep_ms, ticks_ms, address=ADDRESS, ticks_diff=None,
                 retry_delay_ms=RETRY_DELAY_MS, retry_budget_ms=RETRY_BUDGET_MS, timing=None):
        self.i2c = i2c
        self.sleep_ms = sleep_ms
        self.ticks_ms = ticks_ms
        self.diff = ticks_diff or _sub
        self.address = address
        self.retry_delay_ms = retry_delay_ms
        self.retry_budget_ms = retry_budget_ms
        self.timing = timing or TIMING_ANY
        self.retries = 0  # retried attempts since creation (for diagnostics and tests)
        self._cmd = bytearray(MAX_GROUP + 1)
        self._cmv = memoryview(self._cmd)
        self._resp = bytearray(MAX_RESPONSE + 3)
        self._rmv = memoryview(self._resp)
        self._woke = None

    # -- power states -------------------------------------------------------------------
    def wake(self):
        """Wake pulse, tWHI wait, and check the ``04 11 33 43`` reply."""
        pulse = getattr(self.i2c, "wake", None)
        if pulse is not None:
            pulse()
        else:
            try:
                self.i2c.writeto(0, b"\x00")
            except OSError:
                pass  # nobody ACKs address 0: the long low address phase is the wake pulse
        self.sleep_ms(WAKE_DELAY_MS)
        buf = self._rmv[:4]
        try:
            self.i2c.readfrom_into(self.address, buf)
        except OSError as e:
            raise NoAckError(
                "no ACK from I2C address 0x%02x after the wake pulse (%r)" % (self.address, e),
                hint="check wiring, bus number and address; the wake pulse needs the bus "
                     "at <= 100 kHz")
        got = bytes(buf)
        if got == WAKE_REPLY:
            self._woke = self.ticks_ms()
            return
        if got[0] == 0x04 and got[1] == 0x07:
            raise SelfTestError("wake reply %r: the chip failed its power-on self test" % got,
                                0x07, hint="power-cycle the chip")
        self._word(WORD_SLEEP)
        raise WakeError("unexpected wake reply %r, expected %r" % (got, WAKE_REPLY),
                        hint="the chip was probably awake holding an old response; "
                             "it has been sent to sleep")

    def sleep(self):
        """Send Sleep (volatile state lost). Returns False if the chip did not ACK."""
        self._woke = None
        return self._word(WORD_SLEEP)

    def idle(self):
        """Send Idle (TempKey and RNG seed kept). Returns False if the chip did not ACK."""
        self._woke = None
        return self._word(WORD_IDLE)

    def _word(self, word):
        try:
            self.i2c.writeto(self.address, bytes((word,)))
            return True
        except OSError:
            return False

    def transaction(self):
        """``with t.transaction():`` -- one wake window, Sleep on exit, no retries."""
        return _Window(self)

    def awake_ms(self):
        """Milliseconds since the current wake, or None when not awake."""
        if self._woke is None:
            return None
        return self.diff(self.ticks_ms(), self._woke)

    # -- commands -----------------------------------------------------------------------
    def execute(self, opcode, param1, param2, data=b"", resp_len=1, what=None):
        """Send one command group inside a wake window and return its response payload.

        ``resp_len`` is the expected payload size (1 = status only). Polls the chip
        (it NACKs while busy) from the typical to the maximum execution time.
        """
        what = what or "command 0x%02x" % opcode
        n = len(data) + 7
        if n > MAX_GROUP:
            raise NervesKeyError("%s: command group of %d bytes exceeds %d" % (what, n, MAX_GROUP))
        c = self._cmd
        c[0] = WORD_COMMAND
        c[1] = n
        c[2] = opcode
        c[3] = param1
        c[4] = param2 & 0xFF
        c[5] = (param2 >> 8) & 0xFF
        c[6:6 + len(data)] = data
        crc = crc16(self._cmv[1:n - 1])
        c[n - 1] = crc & 0xFF
        c[n] = crc >> 8
        try:
            self.i2c.writeto(self.address, self._cmv[:n + 1])
        except OSError as e:
            raise self._silence(what, "command write not ACKed (%r)" % (e,))
        typ, mx = self.timing.get(opcode, (1, 1000))
        t0 = self.ticks_ms()
        if typ:
            self.sleep_ms(typ)
        buf = self._rmv[:resp_len + 3]
        while True:
            try:
                self.i2c.readfrom_into(self.address, buf)
                break
            except OSError as e:
                waited = self.diff(self.ticks_ms(), t0)
                if waited >= mx:
                    raise self._silence(
                        what, "no response within %d ms (max execution time %d ms; last "
                        "error %r)" % (waited, mx, e), timeout=True)
                self.sleep_ms(POLL_MS)
        return self._parse(buf, resp_len, what)

    def _silence(self, what, text, timeout=False):
        since = self.awake_ms()
        if since is not None and since >= WATCHDOG_MIN_MS:
            return WatchdogError("%s: %s; %d ms after the wake the chip's watchdog has "
                                 "expired and it went back to sleep" % (what, text, since), None,
                                 hint="keep each wake window under 0.7 s")
        if timeout:
            return ChipTimeoutError("%s: %s" % (what, text))
        return NoAckError("%s: %s" % (what, text))

    def _parse(self, buf, resp_len, what):
        count = buf[0]
        if count == 4:
            self._check_crc(buf, 4, what)
            status = buf[1]
            if status == 0 and resp_len == 1:
                return b"\x00"
            if status == 0:
                raise ResponseError("%s: expected %d data bytes, got only a success status"
                                    % (what, resp_len))
            raise status_error(status, what)
        if count != resp_len + 3:
            raise ResponseError("%s: response count byte 0x%02x, expected 0x04 or 0x%02x: %r"
                                % (what, count, resp_len + 3, bytes(buf[:32])),
                                hint="0xFF means the chip sent nothing (asleep or reset)")
        self._check_crc(buf, count, what)
        return bytes(buf[1:count - 2])

    def _check_crc(self, buf, count, what):
        crc = crc16(buf[:count - 2])
        got = buf[count - 2] | (buf[count - 1] << 8)
        if crc != got:
            raise CrcError("%s: response CRC 0x%04x, computed 0x%04x over %r"
                           % (what, got, crc, bytes(buf[:count - 2][:32])))

    # -- retry policy -------------------------------------------------------------------
    def request(self, fn):
        """Run ``fn(transport)`` in a wake window; retry the whole window on retryable errors."""
        start = self.ticks_ms()
        attempts = 0
        while True:
            attempts += 1
            try:
                self.wake()
                try:
                    return fn(self)
                finally:
                    self.sleep()
            except NervesKeyError as e:
                if not getattr(e, "retryable", False):
                    raise
                elapsed = self.diff(self.ticks_ms(), start)
                if elapsed + self.retry_delay_ms > self.retry_budget_ms:
                    e.attempts = attempts
                    e.message = "%s (gave up after %d attempts in %d ms)" % (
                        e.message, attempts, elapsed)
                    raise
                self.retries += 1
                self.sleep_ms(self.retry_delay_ms)
