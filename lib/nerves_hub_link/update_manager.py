"""Update manager: what to do with a server ``update`` (NervesHubLink >= 2.9 / HEAD rules).

Transition table (``status``)::

    status    input                                  next      pushed to the server
    idle      update, no public key                  idle      status failed "Refusing unverified..."
    idle      update, client says apply              updating  received, then started per request
    idle      update, client says ignore [reason]    idle      received, ignored {reason}
    idle      update, client says reschedule         idle      received, rescheduled {delay_for}
                                                               (a local timer asks again later)
    updating  update                                 updating  nothing (duplicate dropped)
    updating  applier progress                       updating  fwup_progress {stage, value}, throttled
    updating  download + apply done                  idle      fwup_progress 100, completed; reboot
    updating  download / fwup / other error          idle      failed {reason}; no reboot

The update itself (``_run``) streams the download into a fwup applier (``StreamingUpdater``
of NervesHubLink): every HTTP chunk is fed to ``applier.feed``; a 200 on a resume makes a
fresh applier (never spliced). Keys: ``fwup_public_keys`` pushed by the server replace the
list (non-strings dropped, an empty list never clears it); ``add_key``/``remove_key`` change
it at run time. Time (``ticks_ms``, ``sleep_ms``) and task spawning are injected.
Largest buffer: none of its own (the downloader's and the applier's).
"""

from nerves_hub_link import log
from nerves_hub_link.download import Downloader, redact
from nerves_hub_link.errors import DownloadError, FwupError, NervesHubError, UpdateError
from nerves_hub_link.progress import ProgressThrottle, percent
from nerves_hub_link.update_info import UpdateInfo

IDLE = "idle"
UPDATING = "updating"

NO_KEYS_REASON = "Refusing unverified firmware : no public keys available"
MIN_RESCHEDULE_MINUTES = 5


class KeyRing:
    """An ordered list of base64 public keys (trimmed, unique)."""

    def __init__(self, keys=()):
        self._keys = []
        for k in keys or ():
            self.add(k)

    def add(self, key):
        """Add a key (non-strings, blanks and duplicates are skipped)."""
        if isinstance(key, str) and key.strip() and key.strip() not in self._keys:
            self._keys.append(key.strip())

    def remove(self, key):
        """Remove a key if present."""
        k = key.strip() if isinstance(key, str) else key
        if k in self._keys:
            self._keys.remove(k)

    def replace(self, keys):
        """Server push: keep only strings; an empty result never clears the ring."""
        if not isinstance(keys, list):
            return False
        fresh = KeyRing(k for k in keys if isinstance(k, str))
        if not fresh._keys:
            return False
        self._keys = fresh._keys
        return True

    def list(self):
        """A copy of the keys, in order."""
        return list(self._keys)

    def __len__(self):
        return len(self._keys)


def default_update_available(info, firmware=None, kv=None):
    """NervesHubLink's default client: ignore the firmware that is already running."""
    running = None
    if firmware is not None:
        running = firmware.active_uuid()
    elif kv is not None:
        slot = kv.get("nerves_fw_active") or "a"
        running = kv.get(slot + ".nerves_fw_uuid")
    if running and info.firmware_meta.uuid == running:
        return "ignore"
    return "apply"


def normalize_decision(answer):
    """``(kind, arg, reason)`` for a client answer; anything unknown means apply.

    Accepted: ``"apply"``, ``"ignore"``, ``("ignore", reason)``, ``("reschedule", ms)``,
    ``("reschedule", minutes, reason)`` (like the Elixir 3-tuple, in minutes).
    """
    if answer == "apply":
        return "apply", None, None
    if answer == "ignore":
        return "ignore", None, ""
    if isinstance(answer, (tuple, list)) and answer:
        kind = answer[0]
        if kind == "ignore" and len(answer) == 2 and isinstance(answer[1], str):
            return "ignore", None, answer[1]
        if kind == "reschedule" and len(answer) in (2, 3):
            t = answer[1]
            if not isinstance(t, bool) and isinstance(t, (int, float)) and t > 0:
                if len(answer) == 2:
                    minutes = int(t / 60000 + 0.5)
                    return "reschedule", int(t), (max(MIN_RESCHEDULE_MINUTES, minutes), None)
                if isinstance(answer[2], str):
                    minutes = max(MIN_RESCHEDULE_MINUTES, int(t + 0.5))
                    return "reschedule", int(t * 60000), (minutes, answer[2])
    log.warning("update_available returned %r; applying the update", answer)
    return "apply", None, None


def applier_factory(dev, task="upgrade", env=None):
    """``factory(public_keys, events) -> Applier`` for ``dev`` (the fwup engine, lazily).

    ``public_keys`` are fwup's base64 texts; ``events`` gets ``("progress", n)`` and
    ``("warning", code, text)`` tuples (the shape of NervesHubLink's fwup messages).
    """

    def make(public_keys, events):
        from nerves_hub_link.fwup.applier import Applier
        from nerves_hub_link.fwup.keys import decode_public

        def on_event(kind, code, text):
            if kind == "PR":
                events(("progress", code))
            elif kind == "WN":
                events(("warning", code, text))
            elif kind == "ER":
                events(("error", code, text))
            elif kind == "OK":
                events(("ok", code, text))

        raw = [decode_public(k) for k in public_keys]
        return Applier(dev, task, public_keys=raw, env=env, events=on_event)

    return make


def _is_awaitable(r):
    return r is not None and hasattr(r, "send")


class UpdateManager:
    """Decides on updates and runs them (see the module docstring).

    ``push(event, payload)`` sends on the ``device`` topic (a coroutine result is spawned).
    ``client`` may define ``update_available``, ``handle_fwup_message``, ``handle_error``
    and ``reboot``; missing ones get NervesHubLink's defaults. ``firmware`` is a
    ``firmware.Firmware`` (active uuid, A/B trial after the update). ``make_applier`` is
    ``applier_factory(...)``. ``spawn(coro)`` starts a task (default ``asyncio.create_task``).
    """

    def __init__(self, push, make_applier, open_connection, ticks_ms, client=None,
                 firmware=None, fwup_public_keys=(), sleep_ms=None, spawn=None, retry=None,
                 reboot=None, network_interface=None, download_progress=False,
                 on_change=None):
        self.push = push
        self.make_applier = make_applier
        self.open_connection = open_connection
        self.ticks_ms = ticks_ms
        self.sleep_ms = sleep_ms
        self.client = client
        self.firmware = firmware
        self.keys = KeyRing(fwup_public_keys)
        self.spawn = spawn or _create_task
        self.retry = retry
        self.reboot = reboot
        self.network_interface = network_interface
        self.download_progress = download_progress
        self.on_change = on_change
        self.status = IDLE
        self.update_info = None
        self.last_result = None  # ("completed" | "failed", reason) of the last update
        self.task = None
        self._timer_token = 0
        self.rescheduled = None  # UpdateInfo waiting for its timer
        self._apply_progress = ProgressThrottle()
        self._dl_progress = ProgressThrottle()
        self._flushing = []  # stages with a pending-progress flush scheduled
        self._update_token = 0

    # --- server messages ------------------------------------------------------------
    def on_update(self, payload):
        """Handler for the ``update`` event. Returns the resulting status."""
        try:
            info = UpdateInfo.parse(payload)
        except UpdateError as e:
            log.warning("ignoring update message: %s", e)
            return self.status
        return self.apply_update(info)

    def on_fwup_public_keys(self, payload):
        """Handler for ``fwup_public_keys``: replace the keys (never cleared by [])."""
        keys = payload.get("keys") if isinstance(payload, dict) else None
        if self.keys.replace(keys):
            log.info("firmware public keys from the server: %d", len(self.keys))
        else:
            log.warning("ignoring fwup_public_keys without usable keys: %r", keys)

    def add_key(self, key):
        """Trust one more base64 firmware public key."""
        self.keys.add(key)

    def remove_key(self, key):
        """Stop trusting a firmware public key."""
        self.keys.remove(key)

    @property
    def currently_downloading_uuid(self):
        """UUID of the firmware being applied, or None."""
        return self.update_info.firmware_meta.uuid if self.update_info else None

    # --- decisions ------------------------------------------------------------------
    def apply_update(self, info):
        """Decide on a parsed ``UpdateInfo`` (see the table); returns the resulting status."""
        if self.status == UPDATING:
            log.info("update %s ignored: an update is already running", info.uuid)
            return self.status
        self._cancel_timer()
        keys = self.keys.list()
        if not keys:
            log.error("refusing update %s: no firmware public keys configured", info.uuid)
            self._status("failed", reason=NO_KEYS_REASON)
            return self.status
        self._status("received")
        kind, arg, extra = normalize_decision(self._ask(info))
        if kind == "ignore":
            self._status("ignored", reason=extra)
        elif kind == "reschedule":
            minutes, reason = extra
            if reason is None:
                self._status("rescheduled", delay_for=minutes)
            else:
                self._status("rescheduled", delay_for=minutes, reason=reason)
            self._start_timer(info, arg)
        else:
            self._start(info, keys)
        return self.status

    def _ask(self, info):
        fn = getattr(self.client, "update_available", None) if self.client else None
        if fn is None:
            return default_update_available(info, self.firmware)
        try:
            return fn(info)
        except Exception as e:  # user code: log and fall back like Client.apply_wrap
            log.exception("update_available", e)
            return ("error", e)

    def _start_timer(self, info, ms):
        self._timer_token += 1
        self.rescheduled = info
        self.spawn(self._fire_later(info, ms, self._timer_token))

    def _cancel_timer(self):
        self._timer_token += 1
        self.rescheduled = None

    async def _fire_later(self, info, ms, token):
        await self._sleep(ms)
        if token == self._timer_token:
            self.rescheduled = None
            self.apply_update(info)

    # --- running an update ----------------------------------------------------------
    def _changed(self):
        if self.on_change is not None:
            try:
                self.on_change(self)
            except Exception as e:
                log.exception("on_change", e)

    def _start(self, info, keys):
        self.status = UPDATING
        self._update_token += 1
        self.update_info = info
        self._changed()
        self._apply_progress.reset()
        self._dl_progress.reset()
        self.task = self.spawn(self.run_update(info, keys))

    async def run_update(self, info, keys):
        """Download and apply ``info``; always ends with ``completed`` or ``failed``."""
        try:
            # inside the try: a bad key or a missing block device must end in "failed" too
            previous_slot = self.firmware.active() if self.firmware else None
            sink = _ApplierSink(self, keys)
            d = Downloader(info.firmware_url, sink, self.open_connection, self.ticks_ms,
                           self.sleep_ms, self.retry, listener=self._on_download)
            log.state("update", "downloading %s (%s)" % (info.uuid, redact(info.firmware_url)))
            await d.run()
            sink.finish()
            if self.firmware is not None:
                reload = getattr(self.firmware.kv, "reload", None)
                if reload:
                    reload()
                self.firmware.after_update(previous_slot)  # an activation error is a failure
        except DownloadError as e:
            return await self._failed("Download failed : %s" % e, e)
        except FwupError as e:
            self.on_fwup_message(("error", 1, str(e)))
            return await self._failed("FWUP error : %s" % e, e)
        except NervesHubError as e:
            return await self._failed("Update failed : %s" % e, e)
        except Exception as e:  # a bug must not leave the manager stuck in "updating"
            return await self._failed("Unexpected error : %s: %s" % (type(e).__name__, e), e)
        self.on_fwup_message(("ok", 0, ""))
        self._progress("updating", 100, force=True)
        self._status("completed")
        log.state("update", "completed %s" % info.uuid)
        self._done("completed", None)
        await self._reboot()

    async def _failed(self, reason, err):
        log.state("update", "failed: %s" % reason)
        self._status("failed", reason=reason)
        self._done("failed", reason)
        handler = getattr(self.client, "handle_error", None) if self.client else None
        if handler:
            try:
                r = handler(err)
                if _is_awaitable(r):
                    await r
            except Exception as e:
                log.exception("handle_error", e)

    def _done(self, result, reason):
        self.status = IDLE
        self.update_info = None
        self.last_result = (result, reason)
        self._changed()

    async def _reboot(self):
        fn = self.reboot
        if fn is None and self.client is not None:
            fn = getattr(self.client, "reboot", None)
        if fn is None:
            log.warning("update applied; no reboot callback, the new firmware runs after a reboot")
            return
        try:
            r = fn()
            if _is_awaitable(r):
                await r
        except Exception as e:
            log.exception("reboot", e)

    # --- events ---------------------------------------------------------------------
    def _on_download(self, event, info):
        if event == "request":
            iface = None
            if self.network_interface is not None:
                try:
                    iface = self.network_interface()
                except Exception as e:  # a failed probe must not stop the update
                    log.exception("network_interface", e)
            self._status("started", downloader_network_interface=iface)
        elif event == "progress":
            if self.download_progress and info.get("total"):
                self._progress("downloading", percent(info["offset"], info["total"]))
        elif event == "retry":
            log.warning("download interrupted (%s), retry %d in %d ms from byte %d",
                        info["reason"], info["retry_number"], info["delay_ms"], info["offset"])
        elif event == "restart":
            log.warning("server ignored the Range request: restarting the apply from byte 0")

    def on_fwup_message(self, msg):
        """Applier event: ``("progress", n)``, ``("warning"|"error"|"ok", code, text)``."""
        fn = getattr(self.client, "handle_fwup_message", None) if self.client else None
        if fn:
            try:
                fn(msg)
            except Exception as e:
                log.exception("handle_fwup_message", e)
        if isinstance(msg, (tuple, list)) and msg and msg[0] == "progress":
            # 100 is only sent with ``completed``, after the slot switch succeeded
            self._progress("updating", min(msg[1], 99))

    def _progress(self, stage, value, force=False):
        throttle = self._dl_progress if stage == "downloading" else self._apply_progress
        if force:
            v = value
        else:
            now = self.ticks_ms()
            v = throttle.offer(value, now)
            if v is None:
                wait = throttle.wait_ms(now)
                if wait is not None and stage not in self._flushing:
                    self._flushing.append(stage)
                    self.spawn(self._flush_later(stage, throttle, wait))
                return
        self._push("fwup_progress", {"stage": stage, "value": v})

    async def _flush_later(self, stage, throttle, wait):
        # a value held back by the 500 ms rule is sent when the rule allows, even if the
        # transfer stalls meanwhile (no "bar stuck at 0 %")
        token = self._update_token
        try:
            await self._sleep(wait)
        finally:
            self._flushing.remove(stage)
        if self.status == UPDATING and token == self._update_token:
            v = throttle.due(self.ticks_ms())
            if v is not None:
                self._push("fwup_progress", {"stage": stage, "value": v})

    def _status(self, status, **fields):
        payload = {"status": status}
        payload.update(fields)
        self._push("status_update", payload)

    def _push(self, event, payload):
        try:
            r = self.push(event, payload)
        except Exception as e:  # offline: the server learns the outcome at the next join
            log.warning("could not push %s %r: %s", event, payload, e)
            return
        if _is_awaitable(r):
            self.spawn(r)

    async def _sleep(self, ms):
        if self.sleep_ms is not None:
            await self.sleep_ms(ms)
        else:
            import asyncio

            await asyncio.sleep(ms / 1000)


class _ApplierSink:
    """Downloader sink feeding a fwup applier; ``restart`` makes a fresh one."""

    def __init__(self, manager, keys):
        self.manager = manager
        self.keys = keys
        self.applier = None
        self.restart()

    def restart(self):
        self.applier = self.manager.make_applier(self.keys, self.manager.on_fwup_message)

    def write(self, chunk):
        self.applier.feed(chunk)

    def finish(self):
        self.applier.finish()


def download_opener(cfg, hal):
    """The downloads' ``open_connection``: firmware often lives elsewhere (S3, a CDN), so TLS
    trusts ``ca_certs``, ``download_ca_certs`` and the system store where the HAL's TLS has
    one (CPython), not only the NervesHub CA. The CA files are read once, here."""
    from nerves_hub_link.download import hal_opener

    download_ca = getattr(cfg, "download_ca_der", None)
    if download_ca is not None:
        ca = download_ca()
    elif getattr(cfg, "ca_certs", None):  # a config object without the download field
        from nerves_hub_link.config import read_der_list

        ca = read_der_list(cfg.ca_certs)
    else:
        ca = None
    return hal_opener(hal, ca, system_ca=True)


def attach(link, hal, config=None, firmware=None, dev=None, retry=None,
           validate_on_connect=True, download_progress=False, client=None, make_applier=None):
    """Wire updates and archives into a ``Link``; returns ``(UpdateManager, ArchiveManager)``.

    Registers ``device`` handlers for ``update``, ``archive``, ``fwup_public_keys`` and
    ``archive_public_keys``; keeps ``link.currently_downloading_uuid`` current; reboots
    through ``link.client.reboot()`` after the pushes are flushed. The firmware slots are
    ``firmware.Firmware(link.kv)``: ``validate_on_boot()`` runs here (so call this before
    ``link.run()``), and the running slot is marked valid once the link is connected
    (``validate_on_connect``). ``dev`` defaults to the config's ``block_device``;
    ``make_applier(keys, events)`` replaces the applier built on it (boards pass their own).
    Downloads connect through ``download_opener(cfg, hal)``.
    """
    from nerves_hub_link.archive_manager import ArchiveManager
    from nerves_hub_link.firmware import Firmware

    cfg = config if config is not None else link.config
    fw = firmware if firmware is not None else Firmware(link.kv)
    booted = fw.validate_on_boot()
    log.state("firmware", "slot %s (%s)" % (fw.active(), booted))
    opener = download_opener(cfg, hal)
    if dev is None and getattr(cfg, "block_device", None):
        dev = hal.block_device(cfg.block_device, getattr(cfg, "block_device_size", 0))
    if make_applier is not None:
        make = make_applier
    elif dev is not None:
        make = applier_factory(dev, cfg.fwup_task, cfg.fwup_env or None)
    else:
        def make(keys, events):
            raise UpdateError("no block_device configured: cannot apply firmware",
                              hint="set block_device in the device config")
    sleep_ms = getattr(hal, "sleep_ms", None)
    cl = client if client is not None else link.client

    def push(event, payload):
        if event == "fwup_progress":
            log.state("progress", "%s %d%%" % (payload.get("stage"), payload.get("value")))
        elif event == "status_update":
            log.state("update status", payload.get("status"))
        return link.push("device", event, payload)

    async def reboot():
        try:
            await link.flush()
        except NervesHubError as e:
            log.warning("update status not flushed before reboot: %s", e)
        link.client.reboot()

    def changed(m):
        link.currently_downloading_uuid = m.currently_downloading_uuid

    um = UpdateManager(push, make, opener, hal.ticks_ms, client=cl, firmware=fw,
                       fwup_public_keys=link.fwup_public_keys, sleep_ms=sleep_ms, retry=retry,
                       reboot=reboot, download_progress=download_progress, on_change=changed)
    am = ArchiveManager(cfg.data_path, opener, hal.ticks_ms, client=cl,
                        archive_public_keys=link.archive_public_keys,
                        fallback_keys=um.keys.list, sleep_ms=sleep_ms, retry=retry)

    def on_fwup_keys(event, payload):
        um.on_fwup_public_keys(payload)
        link.fwup_public_keys = um.keys.list()

    def on_archive_keys(event, payload):
        am.on_archive_public_keys(payload)
        link.archive_public_keys = am.keys.list()

    link.on("device", "update", lambda event, payload: um.on_update(payload))
    link.on("device", "archive", lambda event, payload: am.on_archive(payload))
    link.on("device", "fwup_public_keys", on_fwup_keys)
    link.on("device", "archive_public_keys", on_archive_keys)
    if validate_on_connect:
        def validate(*_args):
            if fw.mark_valid():
                log.state("firmware", "slot %s marked valid" % fw.active())

        link.on("device", "joined", validate)
        orig = link.client.connected

        def connected():
            orig()
            validate()

        link.client.connected = connected
    link.update_manager = um
    link.archive_manager = am
    return um, am


def _create_task(coro):
    import asyncio

    return asyncio.create_task(coro)
