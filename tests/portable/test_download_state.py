# heapsize: 512K
# The download policy core (no I/O): resume, Content-Range checks, redirects, retries, timeouts.
from nerves_hub_link import download as dl
from nerves_hub_link.errors import DownloadError
from support import raises

URL = "http://fw.example:8080/firmware/v2.fw?token=secret"


def _state(**retry):
    return dl.DownloadState(URL, dl.RetryConfig(**retry), now_ms=1000)


def test_worst_case_timeout_vectors():
    # Spec §6 vectors (NervesHubLink 2.12: 5 minute minimum).
    assert dl.worst_case_timeout_ms(20971520, 30000) == 5592405
    assert dl.worst_case_timeout_ms(1, 30000) == 300000
    assert dl.worst_case_timeout_ms(1048576, 30000) == 300000
    assert dl.worst_case_timeout_ms(0, 30000) == 300000
    # round half away from zero (Elixir round/1), not Python's banker's rounding
    assert dl.round_half_up(3, 2) == 2
    assert dl.round_half_up(5, 2) == 3
    raises(DownloadError, dl.worst_case_timeout_ms, 10, 0)


def test_retry_config_defaults_and_invalid_values():
    rc = dl.RetryConfig()
    assert (rc.max_disconnects, rc.idle_timeout, rc.max_timeout, rc.time_between_retries,
            rc.worst_case_download_speed) == (10, 60000, 86400000, 15000, 30000)
    seen = []
    rc = dl.RetryConfig(warn=seen.append, max_disconnects=-1, idle_timeout="x", bogus=1,
                        time_between_retries=0)
    assert rc.max_disconnects == 10 and rc.idle_timeout == 60000
    assert rc.time_between_retries == 0
    assert len(seen) == 3 and any("bogus" in w for w in seen)


def test_split_and_join_url():
    assert dl.split_url(URL) == ("http", "fw.example", 8080, "/firmware/v2.fw?token=secret")
    assert dl.split_url("https://h/x") == ("https", "h", 443, "/x")
    assert dl.split_url("http://h?q=1") == ("http", "h", 80, "/?q=1")
    assert dl.split_url("http://[::1]:81/a#frag") == ("http", "::1", 81, "/a")
    raises(DownloadError, dl.split_url, "ftp://h/x")
    raises(DownloadError, dl.split_url, "http://h:99999/x")
    raises(DownloadError, dl.split_url, "http:///x")
    assert dl.join_url(URL, "/other.fw") == "http://fw.example:8080/other.fw"
    assert dl.join_url(URL, "v3.fw?a=b") == "http://fw.example:8080/firmware/v3.fw?a=b"
    assert dl.join_url(URL, "https://cdn/x") == "https://cdn/x"
    assert dl.join_url("https://a/b", "//c/d") == "https://c/d"
    assert dl.redact(URL) == "http://fw.example:8080/firmware/v2.fw?[REDACTED]"


def _hdr(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def test_first_request_has_no_range_and_resume_asks_from_offset():
    st = _state()
    host, port, tls, headers, target = st.request()
    assert (host, port, tls, target) == ("fw.example", 8080, False, "/firmware/v2.fw?token=secret")
    assert _hdr(headers, "Range") is None and _hdr(headers, "X-Retry-Number") == "0"
    assert st.on_response(200, [("content-length", "4096")], 1000) == dl.CONTINUE
    st.on_data(1536)
    assert st.on_error("transport_error", 1100) == dl.RETRY
    headers = st.request()[3]
    assert _hdr(headers, "Range") == "bytes=1536-"
    assert _hdr(headers, "X-Retry-Number") == "1"
    cr = [("content-range", "bytes 1536-4095/4096"), ("content-length", "2560")]
    assert st.on_response(206, cr, 1200) == dl.CONTINUE
    st.on_data(2560)
    assert st.on_end(1300) == dl.DONE
    assert st.offset == 4096 and st.received == 4096 and st.total == 4096


def test_200_on_resume_restarts_from_zero():
    st = _state()
    st.on_response(200, [("content-length", "100")], 1000)
    st.on_data(40)
    st.on_error("transport_error", 1000)
    assert st.on_response(200, [("content-length", "100")], 1000) == dl.RESTART
    assert st.offset == 0 and st.restarts == 1
    st.on_data(100)
    assert st.on_end(1000) == dl.DONE
    assert st.received == 140


def test_206_at_wrong_offset_is_never_spliced():
    st = _state()
    st.on_response(200, [("content-length", "100")], 1000)
    st.on_data(40)
    st.on_error("transport_error", 1000)
    bad = [("content-range", "bytes 0-99/100"), ("content-length", "100")]
    assert st.on_response(206, bad, 1000) == dl.RETRY
    assert st.last_reason == "bad_content_range" and st.offset == 40
    assert st.on_response(206, [("content-length", "60")], 1000) == dl.RETRY  # no Content-Range


def test_size_change_during_download_fails():
    st = _state()
    st.on_response(200, [("content-length", "100")], 1000)
    st.on_data(40)
    st.on_error("transport_error", 1000)
    cr = [("content-range", "bytes 40-119/120")]
    assert st.on_response(206, cr, 1000) == dl.FAIL
    assert st.error.reason == "file_changed"


def test_4xx_is_final_and_5xx_is_retried():
    st = _state()
    assert st.on_response(404, [], 1000) == dl.FAIL
    assert st.error.reason == "http_error 404" and "?[REDACTED]" in st.error.message
    assert "secret" not in str(st.error)
    st = _state()
    assert st.on_response(503, [], 1000) == dl.RETRY and st.retry_number == 1


def test_redirects_are_followed_and_bounded():
    st = _state()
    assert st.on_response(302, [("location", "/moved.fw")], 1000) == dl.REDIRECT
    assert st.url == "http://fw.example:8080/moved.fw" and st.retry_number == 0
    for _ in range(dl.MAX_REDIRECTS - 1):
        assert st.on_response(307, [("location", "/again")], 1000) == dl.REDIRECT
    assert st.on_response(301, [("location", "/loop")], 1000) == dl.FAIL
    assert st.error.reason == "too_many_redirects"
    st = _state()
    assert st.on_response(302, [], 1000) == dl.FAIL


def test_redirect_from_https_to_http_is_refused():
    st = dl.DownloadState("https://hub.example/fw.fw?sig=s")
    assert st.on_response(302, [("location", "http://cdn.example/fw.fw?sig=t")], 0) == dl.FAIL
    assert st.error.reason == "insecure_redirect" and st.retry_number == 0
    assert "https to plain http" in str(st.error) and "sig=t" not in str(st.error)
    assert st.url == "https://hub.example/fw.fw?sig=s"
    # scheme-relative keeps https; upgrades and same-scheme moves are followed
    st = dl.DownloadState("https://hub.example/fw.fw")
    assert st.on_response(302, [("location", "//cdn.example/a.fw")], 0) == dl.REDIRECT
    assert st.on_response(302, [("location", "HTTPS://cdn2.example/b.fw")], 0) == dl.REDIRECT
    assert st.url == "HTTPS://cdn2.example/b.fw"
    st = _state()
    assert st.on_response(302, [("location", "https://cdn.example/a.fw")], 0) == dl.REDIRECT
    assert st.on_response(302, [("location", "http://c/b")], 0) == dl.FAIL
    assert st.error.reason == "insecure_redirect"


def test_short_body_is_retried_and_max_disconnects_gives_up():
    st = _state(max_disconnects=3)
    st.on_response(200, [("content-length", "10")], 1000)
    st.on_data(5)
    assert st.on_end(1000) == dl.RETRY and st.last_reason == "content_length_mismatch"
    assert st.on_error("idle_timeout", 1000) == dl.RETRY
    assert st.on_error("idle_timeout", 1000) == dl.FAIL
    assert st.error.reason == "max_disconnects_reached"
    assert "idle_timeout" in st.error.message


def test_max_timeout_and_worst_case_deadline():
    st = _state(max_timeout=5000)
    assert st.check_time(5999) is None
    assert st.check_time(6000) == dl.FAIL and st.error.reason == "max_timeout_reached"
    st = _state(worst_case_download_speed=8000)  # 1 byte per ms
    st.on_response(200, [("content-length", "1000000")], 1000)
    assert st.deadline_ms == 1000 + 1000000
    assert st.read_timeout_ms(1000) == 60000
    assert st.read_timeout_ms(1000 + 1000000 - 10) == 10
    assert st.check_time(1000 + 1000000) == dl.FAIL
    assert st.error.reason == "worst_case_download_speed_reached"


def test_unknown_length_completes_at_end_of_body():
    st = _state()
    assert st.on_response(200, [], 1000) == dl.CONTINUE
    st.on_data(77)
    assert st.on_end(1000) == dl.DONE and st.total == 77


def test_body_is_capped_at_the_announced_range():
    st = _state()
    st.on_data(100)  # the sink holds 100 bytes; resume with a 206 without Content-Length
    assert st.on_response(206, [("content-range", "bytes 100-199/200")], 1000) == dl.CONTINUE
    assert st.body_left == 100
    assert st.on_data(60, 1000) == dl.CONTINUE and st.body_left == 40
    assert st.on_data(41, 1000) == dl.RETRY  # one byte past the range
    assert st.last_reason == "protocol_error" and st.offset == 160 and st.received == 160
    # a 200 is capped at its Content-Length, or at the size learnt before
    st = _state()
    st.on_response(206, [("content-range", "bytes 0-9/50")], 1000)
    st.on_data(10, 1000)
    assert st.on_response(200, [], 1000) == dl.RESTART and st.body_left == 50
    assert st.on_data(51, 1000) == dl.RETRY and st.offset == 0


def test_206_whose_length_or_end_contradicts_the_file_is_retried():
    st = _state()
    h = [("content-range", "bytes 0-9/20"), ("content-length", "15")]
    assert st.on_response(206, h, 1000) == dl.RETRY
    assert st.last_reason == "bad_content_range"
    st = _state()
    st.on_response(206, [("content-range", "bytes 0-9/20")], 1000)
    st.on_data(10, 1000)
    assert st.on_response(206, [("content-range", "bytes 10-29/*")], 1000) == dl.RETRY


def test_end_past_the_file_size_fails():
    st = _state()
    st.on_response(200, [("content-length", "10")], 1000)
    st.body_left = None  # a driver that ignored on_data's answer
    st.on_data(12)
    assert st.on_end(1000) == dl.FAIL and st.error.reason == "protocol_error"
