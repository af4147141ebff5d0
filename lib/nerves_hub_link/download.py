"""Resumable firmware download: a sans-I/O core (``DownloadState``) and its asyncio driver.

The core decides; the driver (``Downloader``) moves bytes. Policy (NervesHubLink
``Downloader`` + ``RetryConfig``, with the fixes the spec asks for):

* ``Range: bytes=N-`` on every resume; a 206 must carry ``Content-Range: bytes N-…/TOTAL``
  starting exactly at N (else the attempt fails and is retried, never spliced);
* a 200 to a resume restarts cleanly: the sink is told ``restart()`` and gets the body from 0;
* 3xx follows ``location`` (relative ones merged), at most ``MAX_REDIRECTS`` per download;
  a redirect from https to plain http is refused (``insecure_redirect``, not retried);
* the body is capped at what the response announced (its Content-Range, Content-Length, or
  the file size): a byte past it is a protocol error for that attempt and never reaches the
  sink; a 206 or 200 without Content-Length ends at the range end, not at the close;
* 4xx is never retried; 5xx, transport errors, idle timeouts and short bodies are retried
  after ``time_between_retries`` until ``max_disconnects`` attempts have failed;
* ``max_timeout`` bounds the whole download, ``worst_case_timeout_ms`` each response.

Every failure ends in ``DownloadError`` (``.reason`` is a short tag such as
``"http_error 404"`` or ``"max_disconnects_reached"``); sink errors propagate unchanged.
Largest buffer: the HTTP parser's receive buffer plus one ``READ_SIZE`` read (4 KiB).
"""

from nerves_hub_link import log
from nerves_hub_link.errors import DownloadError, NervesHubError, ProtocolError
from nerves_hub_link.update_info import redact_url as redact  # one redactor for every URL log

MAX_REDIRECTS = 5
READ_SIZE = 4096
MIN_WORST_CASE_MS = 300000  # NervesHubLink >= 2.12
USER_AGENT = "NHL/0.1.0 (nerves_hub_link.py)"

# Actions returned by the core.
CONTINUE = "continue"  # keep reading this body
RESTART = "restart"  # the sink must start over from byte 0, then keep reading
REDIRECT = "redirect"  # close, connect to ``state.url`` now (no delay, not a retry)
RETRY = "retry"  # close, wait ``retry.time_between_retries``, reconnect
DONE = "done"  # everything received
FAIL = "fail"  # give up; ``state.error`` says why


def round_half_up(num, den):
    """round(num / den) for non-negative integers, halves away from zero."""
    return (2 * num + den) // (2 * den)


def worst_case_timeout_ms(content_length, bits_per_second):
    """How long ``content_length`` bytes may take at the worst acceptable speed (ms).

    Never less than 5 minutes (NervesHubLink 2.12 ``TimeoutCalculation``).
    """
    if bits_per_second <= 0:
        raise DownloadError("worst_case_download_speed must be > 0, got %r" % bits_per_second)
    ms = round_half_up((content_length or 0) * 8 * 1000, bits_per_second)
    return ms if ms > MIN_WORST_CASE_MS else MIN_WORST_CASE_MS


class RetryConfig:
    """Retry limits; unknown or invalid values fall back to the defaults with a warning."""

    DEFAULTS = {
        "max_disconnects": 10,
        "idle_timeout": 60000,  # ms without a byte before the attempt is dropped
        "max_timeout": 86400000,  # ms for the whole download (24 h)
        "time_between_retries": 15000,  # ms
        "worst_case_download_speed": 30000,  # bit/s
    }

    def __init__(self, warn=None, **opts):
        self.warnings = []
        for k, v in self.DEFAULTS.items():
            setattr(self, k, v)
        for k, v in opts.items():
            if k not in self.DEFAULTS:
                self._warn(warn, "unknown retry option %r ignored" % k)
            elif isinstance(v, bool) or not isinstance(v, int) or v < (
                    0 if k == "time_between_retries" else 1):
                self._warn(warn, "retry option %s=%r is invalid, using %r"
                           % (k, v, self.DEFAULTS[k]))
            else:
                setattr(self, k, v)

    def _warn(self, warn, msg):
        self.warnings.append(msg)
        if warn:
            warn(msg)

    def __repr__(self):
        return "RetryConfig(%s)" % ", ".join(
            "%s=%r" % (k, getattr(self, k)) for k in sorted(self.DEFAULTS))


def split_url(url):
    """``(scheme, host, port, target)`` of an absolute http(s) URL; target keeps the query."""
    i = url.find("://")
    scheme = url[:i].lower() if i > 0 else ""
    if scheme not in ("http", "https"):
        raise DownloadError("unsupported URL scheme in %r" % redact(url),
                            hint="only http and https downloads are supported")
    rest = url[i + 3:]
    j = len(rest)
    for c in "/?#":
        k = rest.find(c)
        if 0 <= k < j:
            j = k
    authority, target = rest[:j], rest[j:]
    k = target.find("#")
    if k >= 0:
        target = target[:k]
    if not target.startswith("/"):
        target = "/" + target
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    port = 443 if scheme == "https" else 80
    host = authority
    if authority.startswith("["):
        k = authority.find("]")
        host = authority[1:k] if k > 0 else ""
        tail = authority[k + 1:] if k > 0 else ""
        if tail.startswith(":") and tail[1:]:
            port = _port(tail[1:], url)
    elif ":" in authority:
        host, p = authority.rsplit(":", 1)
        if p:
            port = _port(p, url)
    if not host:
        raise DownloadError("no host in URL %r" % redact(url))
    return scheme, host, port, target


def _port(text, url):
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise DownloadError("bad port %r in URL %r" % (text, redact(url)))
    return int(text)


def join_url(base, location):
    """Resolve a redirect ``location`` against ``base`` (absolute, //host, /path, relative)."""
    loc = location.strip()
    if "://" in loc.split("?", 1)[0]:
        return loc
    scheme, host, port, target = split_url(base)
    default = 443 if scheme == "https" else 80
    hostport = ("[%s]" % host if ":" in host else host) + (
        "" if port == default else ":%d" % port)
    if loc.startswith("//"):
        return scheme + ":" + loc
    if loc.startswith("/"):
        return "%s://%s%s" % (scheme, hostport, loc)
    path = target.split("?", 1)[0]
    return "%s://%s%s%s" % (scheme, hostport, path[:path.rfind("/") + 1], loc)


class DownloadState:
    """Sans-I/O download policy. Feed it what happened; it returns an action.

    ``offset`` is the number of bytes the sink holds (the resume point), ``total`` the
    size of the whole file once known, ``received`` every body byte read (restarts and
    all), ``attempts`` the requests sent, ``body_left`` the bytes the current response may
    still deliver (None: until the connection closes).
    """

    def __init__(self, url, retry=None, now_ms=0, max_redirects=MAX_REDIRECTS):
        self.url = url
        self.retry = retry or RetryConfig()
        self.max_redirects = max_redirects
        self.started_ms = now_ms
        self.offset = 0
        self.total = None
        self.received = 0
        self.retry_number = 0
        self.redirects = 0
        self.attempts = 0
        self.restarts = 0
        self.deadline_ms = None  # worst-case timer of the current response
        self.body_left = None
        self.last_reason = None  # why the last attempt failed
        self.error = None
        self.done = False
        split_url(url)

    # --- requests -------------------------------------------------------------------
    def request(self):
        """``(host, port, tls, request_headers_list, target)`` for the next attempt."""
        scheme, host, port, target = split_url(self.url)
        headers = [
            ("User-Agent", USER_AGENT),
            ("X-Retry-Number", str(self.retry_number)),
            ("Accept-Encoding", "identity"),
            ("Connection", "close"),
        ]
        if self.offset:
            headers.append(("Range", "bytes=%d-" % self.offset))
        self.attempts += 1
        return host, port, scheme == "https", headers, target

    # --- responses ------------------------------------------------------------------
    def on_response(self, status, headers, now_ms):
        """A response head arrived; returns CONTINUE, RESTART, REDIRECT, RETRY or FAIL."""
        h = {}
        for k, v in headers:
            h.setdefault(k.lower(), v)
        if 300 <= status < 400:
            loc = h.get("location")
            if not loc:
                return self._fail("http_error %d" % status,
                                  "HTTP %d redirect without a Location header" % status)
            self.redirects += 1
            if self.redirects > self.max_redirects:
                return self._fail("too_many_redirects",
                                  "more than %d redirects (last to %s)"
                                  % (self.max_redirects, redact(loc)))
            try:
                url = join_url(self.url, loc)
                scheme = split_url(url)[0]
            except DownloadError as e:
                return self._fail("bad_redirect", e.message)
            if scheme == "http" and split_url(self.url)[0] == "https":
                return self._fail("insecure_redirect",
                                  "refusing the redirect from https to plain http (%s)"
                                  % redact(url),
                                  hint="the firmware host must keep https on redirects")
            self.url = url
            return REDIRECT
        if 400 <= status < 500:
            return self._fail("http_error %d" % status,
                              "HTTP %d for %s" % (status, redact(self.url)),
                              hint="client errors are not retried")
        if status >= 500:
            return self._retry("http_error %d" % status, now_ms)
        if status not in (200, 206):
            return self._fail("http_error %d" % status,
                              "unexpected HTTP %d for a firmware download" % status)
        length = _int_or_none(h.get("content-length"))
        action = CONTINUE
        if status == 206:
            try:
                start, end, total = _content_range(h.get("content-range"))
            except (ProtocolError, DownloadError) as e:
                return self._retry("bad_content_range", now_ms, str(e))
            if start != self.offset:
                return self._retry("bad_content_range", now_ms,
                                   "206 starts at byte %d, expected %d" % (start, self.offset))
            if total is not None:
                if self.total is not None and total != self.total:
                    return self._fail("file_changed",
                                      "file size changed from %d to %d bytes during the download"
                                      % (self.total, total))
                self.total = total
            elif self.total is None:
                self.total = end + 1 if length is None else None
            elif end >= self.total:
                return self._retry("bad_content_range", now_ms,
                                   "206 ends at byte %d of a %d-byte file" % (end, self.total))
            remaining = end - start + 1
            if length is not None and length != remaining:
                return self._retry("bad_content_range", now_ms,
                                   "206 Content-Length %d but Content-Range %d-%d"
                                   % (length, start, end))
        else:
            if self.offset:
                self.offset = 0
                self.restarts += 1
                action = RESTART
            if self.total is not None and length is not None and length != self.total:
                return self._fail("file_changed",
                                  "file size changed from %d to %d bytes during the download"
                                  % (self.total, length))
            if length is not None:
                self.total = length
            remaining = length
        if remaining is None and self.total is not None:
            remaining = self.total - self.offset
        self.body_left = remaining
        self.deadline_ms = now_ms + worst_case_timeout_ms(
            remaining or 0, self.retry.worst_case_download_speed)
        return action

    def on_data(self, n, now_ms=None):
        """``n`` body bytes arrived: CONTINUE (hand them to the sink, then call ``on_end``
        once ``body_left`` is 0), or RETRY/FAIL when they overrun the announced size (the
        bytes must not reach the sink)."""
        left = self.body_left
        if left is not None and n > left:
            self.deadline_ms = None
            return self._retry("protocol_error", now_ms,
                               "the server sent %d bytes past the announced end (byte %d)"
                               % (n - left, self.offset + left))
        if left is not None:
            self.body_left = left - n
        self.offset += n
        self.received += n
        return CONTINUE

    def on_end(self, now_ms):
        """The body ended (EndOfMessage); returns DONE or RETRY (short body)."""
        self.deadline_ms = None
        if self.total is not None and self.offset > self.total:
            # only reachable when a driver ignores on_data's answer; the sink is corrupt
            return self._fail("protocol_error", "body ended at byte %d of a %d-byte file"
                              % (self.offset, self.total))
        if self.total is None or self.offset >= self.total:
            self.done = True
            if self.total is None:
                self.total = self.offset
            return DONE
        return self._retry("content_length_mismatch", now_ms,
                           "body ended after %d of %d bytes" % (self.offset, self.total))

    def on_error(self, reason, now_ms, detail=None):
        """The attempt broke (connect error, reset, idle timeout); returns RETRY or FAIL."""
        self.deadline_ms = None
        return self._retry(reason, now_ms, detail)

    def check_time(self, now_ms):
        """FAIL if a deadline passed, else None."""
        if now_ms - self.started_ms >= self.retry.max_timeout:
            return self._fail("max_timeout_reached",
                              "download still incomplete after %d ms" % self.retry.max_timeout)
        if self.deadline_ms is not None and now_ms >= self.deadline_ms:
            return self._fail("worst_case_download_speed_reached",
                              "slower than %d bit/s" % self.retry.worst_case_download_speed)
        return None

    def read_timeout_ms(self, now_ms):
        """How long the driver may wait for the next bytes before calling ``on_error``."""
        t = self.retry.idle_timeout
        left = self.retry.max_timeout - (now_ms - self.started_ms)
        if self.deadline_ms is not None and self.deadline_ms - now_ms < left:
            left = self.deadline_ms - now_ms
        return max(0, min(t, left))

    # --- helpers --------------------------------------------------------------------
    def _retry(self, reason, now_ms, detail=None):
        self.retry_number += 1
        self.last_reason = reason
        if self.retry_number >= self.retry.max_disconnects:
            return self._fail("max_disconnects_reached",
                              "gave up after %d failed attempts (last: %s%s)"
                              % (self.retry_number, reason, ": " + detail if detail else ""))
        fail = self.check_time(now_ms) if now_ms is not None else None
        return fail or RETRY

    def _fail(self, reason, message, hint=None):
        err = DownloadError(message, hint=hint)
        err.reason = reason
        self.error = err
        return FAIL


def _int_or_none(v):
    if v is None:
        return None
    v = v.strip()
    return int(v) if v.isdigit() else None


def _content_range(value):
    if value is None:
        raise DownloadError("206 without a Content-Range header")
    from nerves_hub_link.http import parse_content_range

    start, end, total = parse_content_range(value)
    if start is None:
        raise DownloadError("206 with an unsatisfied Content-Range %r" % value)
    return start, end, total


class Downloader:
    """Drives ``DownloadState`` over the HAL network.

    ``sink`` has ``write(chunk)`` and ``restart()`` (both synchronous; an exception from
    either aborts the download and propagates). ``open_connection(host, port, tls)`` is
    the HAL coroutine; ``ticks_ms()`` the clock; ``sleep_ms(ms)`` a coroutine (injected so
    tests need not wait). ``listener(event, info)`` hears ``request``, ``response``,
    ``retry``, ``restart``, ``redirect`` and ``progress`` (info is a dict).
    """

    def __init__(self, url, sink, open_connection, ticks_ms, sleep_ms=None, retry=None,
                 listener=None, max_redirects=MAX_REDIRECTS, read_size=READ_SIZE):
        self.sink = sink
        self.open_connection = open_connection
        self.ticks_ms = ticks_ms
        self.sleep_ms = sleep_ms or _asyncio_sleep_ms
        self.listener = listener
        self.read_size = read_size
        self.state = DownloadState(url, retry, ticks_ms(), max_redirects)

    def _emit(self, event, **info):
        if self.listener:
            self.listener(event, info)

    async def run(self):
        """Download everything into the sink; returns the state, raises DownloadError."""
        st = self.state
        while True:
            action = await self._attempt()
            if action == DONE:
                return st
            if action == FAIL:
                raise st.error
            if action == RETRY:
                self._emit("retry", reason=st.last_reason, retry_number=st.retry_number,
                           offset=st.offset, delay_ms=st.retry.time_between_retries)
                await self.sleep_ms(st.retry.time_between_retries)
                if st.check_time(self.ticks_ms()) == FAIL:
                    raise st.error
            elif action == REDIRECT:
                self._emit("redirect", url=redact(st.url))

    async def _attempt(self):
        import asyncio

        timeout_error = asyncio.TimeoutError  # on CPython >= 3.11 a subclass of OSError
        st = self.state
        host, port, tls, headers, target = st.request()
        from nerves_hub_link.http import (
            Data,
            EndOfMessage,
            HTTPResponseParser,
            Response,
            build_request,
        )

        default = 443 if tls else 80
        hostport = host if port == default else "%s:%d" % (host, port)
        writer = None
        try:
            try:
                reader, writer = await self._with_timeout(
                    self.open_connection(host, port, tls), st.read_timeout_ms(self.ticks_ms()))
                writer.write(build_request("GET", hostport, target, headers))
                await writer.drain()
            except NervesHubError as e:
                return st.on_error("connect_failed", self.ticks_ms(), str(e))
            except (OSError, timeout_error) as e:
                return st.on_error("connect_failed", self.ticks_ms(), _why(e))
            except ValueError as e:
                # MicroPython's tls handshakes on the first write and reports a refused
                # server certificate as ValueError
                return st.on_error("connect_failed", self.ticks_ms(),
                                   "TLS: %s" % " ".join(str(e).split()))
            self._emit("request", url=redact(st.url), offset=st.offset,
                       retry_number=st.retry_number)
            parser = HTTPResponseParser()
            eof = False
            while True:
                try:
                    ev = parser.next_event()
                except ProtocolError as e:
                    # an early close is a disconnect; anything else a broken server
                    why = "connection_closed" if eof else "protocol_error"
                    return st.on_error(why, self.ticks_ms(), e.message)
                if isinstance(ev, EndOfMessage):
                    return st.on_end(self.ticks_ms())
                if isinstance(ev, Data):
                    action = st.on_data(len(ev.chunk), self.ticks_ms())
                    if action != CONTINUE:
                        return action
                    self.sink.write(ev.chunk)
                    self._emit("progress", offset=st.offset, total=st.total,
                               received=st.received)
                    if st.body_left == 0:  # don't wait for the close of an unframed body
                        return st.on_end(self.ticks_ms())
                    continue
                if isinstance(ev, Response):
                    if ev.status < 200:
                        continue
                    action = st.on_response(ev.status, ev.headers, self.ticks_ms())
                    self._emit("response", status=ev.status, offset=st.offset, total=st.total)
                    if action == RESTART:
                        self._emit("restart", total=st.total)
                        self.sink.restart()
                    elif action != CONTINUE:
                        return action
                    continue
                # NEED_DATA
                now = self.ticks_ms()
                if st.check_time(now) == FAIL:
                    return FAIL
                try:
                    data = await self._with_timeout(reader.read(self.read_size),
                                                    st.read_timeout_ms(now))
                except timeout_error:
                    if st.check_time(self.ticks_ms()) == FAIL:
                        return FAIL
                    return st.on_error("idle_timeout", self.ticks_ms(),
                                       "no data for %d ms" % st.retry.idle_timeout)
                except OSError as e:
                    return st.on_error("transport_error", self.ticks_ms(), _why(e))
                eof = not data
                try:
                    parser.receive_data(data)
                except ProtocolError as e:
                    return st.on_error("protocol_error", self.ticks_ms(), e.message)
        finally:
            if writer is not None:
                try:
                    writer.close()
                except OSError as e:  # closing a broken socket may fail; nothing to do
                    log.debug("download: close: %s", _why(e))

    async def _with_timeout(self, coro, ms):
        import asyncio

        return await asyncio.wait_for(coro, ms / 1000)


def _why(e):
    return "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__


async def _asyncio_sleep_ms(ms):
    import asyncio

    await asyncio.sleep(ms / 1000)


def hal_opener(hal, ca_certs_der=None, system_ca=False):
    """``open_connection(host, port, tls_flag)`` for the downloader over a device HAL.

    The HAL wants a TLS context (or None); an https URL gets
    ``hal.tls_context(ca_certs_der, None, None, host)``, verifying the server name. With
    *system_ca*, a context that can (CPython's ``ssl.SSLContext.load_default_certs``) also
    trusts the system store; MicroPython's ``tls`` has none, so there only the given CAs.
    """

    async def open_connection(host, port, tls):
        ctx = None
        if tls:
            ctx = hal.tls_context(ca_certs_der, None, None, host)
            load = getattr(getattr(ctx, "context", ctx), "load_default_certs", None)
            if system_ca and load is not None:
                load()
        return await hal.open_connection(host, port, ctx)

    return open_connection
