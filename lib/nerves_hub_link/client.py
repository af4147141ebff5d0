"""Client callbacks (spec §8.1): subclass ``Client`` and override what you need.

The link never calls a client directly; it goes through ``SafeClient``, which logs any
exception raised by a callback and replaces an unrecognised return value with the
documented default, so user code cannot take the link down.

Return values:

* ``update_available(info)``: ``"apply"`` | ``"ignore"`` | ``("ignore", reason)`` |
  ``("reschedule", ms)`` | ``("reschedule", minutes, reason)``; anything else -> "apply".
* ``archive_available(info)``: ``"download"`` | ``"ignore"`` | ``("reschedule", ms)``;
  anything else -> "ignore". A list is taken like the tuple with the same items.
* ``reconnect_backoff()``: a list of positive ms, or None for the default backoff.
* ``firmware_validated()`` -> bool (non-bool -> True); ``firmware_auto_revert_detected()``
  -> bool (non-bool -> False).
* the others return nothing.
"""

from nerves_hub_link import log

APPLY = "apply"
IGNORE = "ignore"
RESCHEDULE = "reschedule"
DOWNLOAD = "download"


def _uuid_of(info):
    meta = getattr(info, "firmware_meta", None)
    if meta is None and isinstance(info, dict):
        meta = info.get("firmware_meta")
    if meta is None:
        return None
    if isinstance(meta, dict):
        return meta.get("uuid")
    return getattr(meta, "uuid", None)


class Client:
    """Default behaviour of NervesHubLink.Client.Default."""

    link = None

    def attach(self, link):
        """Called by the Link it belongs to (gives access to KV, HAL, pushes)."""
        self.link = link

    def update_available(self, info):
        kv = self.link.kv if self.link else None
        if kv is not None:
            from nerves_hub_link.kv import active

            uuid = _uuid_of(info)
            if uuid and uuid == active(kv, "nerves_fw_uuid"):
                log.info("firmware %s is already running; ignoring the update", uuid)
                return IGNORE
        return APPLY

    def archive_available(self, info):
        log.info("archive available; ignoring it (override archive_available to download)")
        return IGNORE

    def archive_ready(self, info, path):
        log.info("archive ready at %s", path)

    def handle_fwup_message(self, msg):
        log.debug("fwup: %r", msg)

    def handle_error(self, reason):
        log.debug("client.handle_error: %s", reason)

    def identify(self):
        """Default: log, then the HAL's ``identify()`` or blink the board LED."""
        log.state("identify", "NervesHub asked this device to identify itself")
        hal = getattr(self.link, "hal", None)
        if hal is not None:
            from nerves_hub_link.identify import identify

            identify(hal)

    def reboot(self):
        """Reboot the device (default: the HAL's reboot)."""
        if self.link is not None:
            self.link.hal_reboot()

    def reconnect_backoff(self):
        link = self.link
        return link.config.reconnect_after_ms() if link is not None else None

    def connected(self):
        pass

    def firmware_validated(self):
        kv = self.link.kv if self.link else None
        if kv is None:
            return True
        from nerves_hub_link.join import firmware_validated

        return firmware_validated(kv.all())

    def firmware_auto_revert_detected(self):
        kv = self.link.kv if self.link else None
        if kv is None:
            return False
        from nerves_hub_link.join import auto_revert_detected

        return auto_revert_detected(kv.all())


def _valid_update_answer(r):
    if r == APPLY or r == IGNORE:
        return True
    if isinstance(r, (tuple, list)) and r:
        if r[0] == IGNORE and len(r) == 2 and isinstance(r[1], str):
            return True
        if r[0] == RESCHEDULE and len(r) in (2, 3) and isinstance(r[1], int) \
                and not isinstance(r[1], bool) and r[1] > 0:
            return len(r) == 2 or isinstance(r[2], str)
    return False


def _valid_archive_answer(r):
    if r == DOWNLOAD or r == IGNORE:
        return True
    return (isinstance(r, (tuple, list)) and len(r) == 2 and r[0] == RESCHEDULE
            and isinstance(r[1], int) and not isinstance(r[1], bool) and r[1] > 0)


def _valid_backoff(r):
    if not isinstance(r, list) or not r:
        return False
    for x in r:
        if not isinstance(x, int) or isinstance(x, bool) or x <= 0:
            return False
    return True


class SafeClient:
    """Calls a client's callbacks; exceptions are logged, bad answers replaced by defaults."""

    def __init__(self, client):
        self.client = client

    def _call(self, name, args, default, check=None):
        fn = getattr(self.client, name, None)
        if fn is None:
            return default
        try:
            r = fn(*args)
        except Exception as e:  # user code must not take the link down
            log.exception("client." + name, e)
            return default
        if check is not None and not check(r):
            if r is not None or default is not None:
                log.warning("client.%s returned %r; using %r", name, r, default)
            return default
        return r

    def update_available(self, info):
        r = self._call("update_available", (info,), APPLY, _valid_update_answer)
        if isinstance(r, list):
            r = tuple(r)
        return r

    def archive_available(self, info):
        r = self._call("archive_available", (info,), IGNORE, _valid_archive_answer)
        if isinstance(r, list):
            r = tuple(r)
        return r

    def archive_ready(self, info, path):
        self._call("archive_ready", (info, path), None)

    def handle_fwup_message(self, msg):
        self._call("handle_fwup_message", (msg,), None)

    def handle_error(self, reason):
        self._call("handle_error", (reason,), None)

    def identify(self):
        self._call("identify", (), None)

    def reboot(self):
        self._call("reboot", (), None)

    def connected(self):
        self._call("connected", (), None)

    def reconnect_backoff(self):
        """The client's list, else None (the caller then builds the default list)."""
        return self._call("reconnect_backoff", (), None, _valid_backoff)

    def firmware_validated(self):
        return self._call("firmware_validated", (), True, lambda r: r is True or r is False)

    def firmware_auto_revert_detected(self):
        return self._call("firmware_auto_revert_detected", (), False,
                          lambda r: r is True or r is False)
