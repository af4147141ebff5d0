"""Glue between a board HAL (``nhl_esp32.Esp32Board``, ``nhl_rp2.Rp2Board``) and the link.

- ``BoardFirmware(board)``: a ``nerves_hub_link.firmware.Firmware`` whose boot check,
  activation and confirmation go through the board (ESP32: ``set_boot()``, the bootloader's
  rollback, ``mark_app_valid_cancel_rollback()``; RP2: slot directories), so the update
  manager drives real hardware with the same calls it uses everywhere.
- ``applier_factory(board, task, env)``: the update manager's ``make_applier`` for a board:
  empties the slots the archive may write, no undo journal (saves RAM: a failed apply only
  touched the slot that is not activated), ``path_write`` confined to those slots, and the
  board's activation run in ``finish()`` (``BoardApplier``).
- ``BoardHAL(board, data_path)``: the link HAL: network and TLS from the unix-port HAL
  (``unix_hal``: ``tls`` + ``asyncio`` streams, the same on ESP32 and RP2; imported when
  first used), the board's KV and fwup device, ``machine.reset()`` as reboot, Unix time
  from either epoch.
- ``wifi_connect(ssid, password)``, ``sync_clock()`` for ``boot.py``; ``run(board, ...)`` for
  ``main.py``.
Largest buffer: none of its own (see the board HAL and the link).
"""

import time

from nerves_hub_link import firmware, log
from nerves_hub_link.errors import TransportError
from nerves_hub_link.fsutil import makedirs
from nhl_flashmap import NullJournal

EPOCH_2000 = 946684800  # seconds from 1970-01-01 to 2000-01-01


def _ticks():
    f = getattr(time, "ticks_ms", None)
    return f() if f else time.monotonic_ns() // 1000000  # CPython (host tests)


def _ticks_diff(a, b):
    f = getattr(time, "ticks_diff", None)
    return f(a, b) if f else a - b


DEFAULT_CONFIG = "/nhl/config.json"


class BoardFirmware(firmware.Firmware):
    """``Firmware`` whose boot check, activation and confirmation drive the board."""

    def __init__(self, board):
        super().__init__(board.kv, bootlimit=1)
        self.board = board

    def validate_on_boot(self):
        return self.board.boot()

    def after_update(self, previous_slot):
        return self.board.activate(previous_slot)

    def mark_valid(self):
        was_valid = self.is_valid()
        self.board.mark_valid()
        return not was_valid

    def revert(self):
        self.board.revert(reboot=False)
        return self.active()


def applier_factory(board, task="upgrade", env=None):
    """``make_applier(public_keys, events)`` for ``UpdateManager`` on a board."""

    def make(public_keys, events):
        from nerves_hub_link.fwup.applier import Applier
        from nerves_hub_link.fwup.keys import decode_public

        def on_event(kind, code, text):
            events({"PR": ("progress", code), "WN": ("warning", code, text),
                    "ER": ("error", code, text), "OK": ("ok", code, text)}[kind])

        prepare = getattr(board, "prepare", None)
        if prepare:
            prepare()
        guard = getattr(board, "path_guard", None)
        return BoardApplier(board, Applier(
            board.dev, task, public_keys=[decode_public(k) for k in public_keys], env=env,
            events=on_event, journal=NullJournal(), fs=guard() if guard else None))

    return make


class BoardApplier:
    """The fwup applier, plus the board's activation in ``finish()``.

    Activating inside ``finish()`` means a slot the hardware refuses (ESP32 ``set_boot()``
    rejecting the image) fails the update like any apply error: the server is told
    ``failed`` and the device stays on its slot.
    """

    def __init__(self, board, applier):
        self.board = board
        self.applier = applier
        self.activated = None

    def feed(self, chunk):
        self.applier.feed(chunk)

    def finish(self):
        self.applier.finish()
        self.activated = self.board.activate(self.board.running)

    @property
    def done(self):
        return self.applier.done


class BoardHAL:
    """The link HAL of a MicroPython board (see the module docstring)."""

    def __init__(self, board, data_path="/nhl/data"):
        self.board = board
        self.name = getattr(board, "name", "micropython-board")
        self.data_path = data_path
        makedirs(data_path)
        self.kv = board.kv
        self._last = _ticks()
        self._acc = 0
        self.on_reboot = None
        self.reboot_requested = False

    def ticks_ms(self):
        """Monotonic ms that never wrap (``ticks_ms`` wraps after ~6 days on 30-bit ports)."""
        t = _ticks()
        self._acc += _ticks_diff(t, self._last)
        self._last = t
        return self._acc

    def unix_time(self):
        t = int(time.time())
        return t + EPOCH_2000 if time.gmtime(0)[0] == 2000 else t

    def rand(self, n):
        import os

        return os.urandom(n)

    def tls_context(self, ca_certs_der, cert_der=None, key_der=None, server_name=None):
        from unix_hal import UnixHAL  # the port's tls + asyncio code, shared with the unix port

        return UnixHAL.tls_context(self, ca_certs_der, cert_der, key_der, server_name)

    async def open_connection(self, host, port, tls_=None):
        from unix_hal import UnixHAL

        return await UnixHAL.open_connection(self, host, port, tls_)

    def block_device(self, path=None, size=0, block_size=512):
        return self.board.dev

    def reboot(self):
        self.reboot_requested = True
        self.board.reboot()

    def i2c(self, *args, **kw):
        return self.board.i2c(*args, **kw)


def wifi_connect(ssid, password, timeout_ms=20000, network=None, sleep_ms=None):
    """Join a Wi-Fi network as a station; returns the interface. Raises TransportError."""
    if network is None:
        import network
    if sleep_ms is None:
        sleep_ms = time.sleep_ms
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if wlan.isconnected():
        return wlan
    log.state("wifi", "joining %r" % ssid)
    wlan.connect(ssid, password)
    waited = 0
    while not wlan.isconnected():
        status = wlan.status()
        if status < 0 or waited >= timeout_ms:
            wlan.active(False)
            raise TransportError("Wi-Fi %r not joined (status %d after %d ms)"
                                 % (ssid, status, waited),
                                 "check the SSID and password in /nhl/wifi.json")
        sleep_ms(100)
        waited += 100
    log.state("wifi", "connected, address %s" % wlan.ifconfig()[0])
    return wlan


def sync_clock(host="pool.ntp.org"):
    """Set the RTC from NTP: TLS certificate checks need the real date. Returns success."""
    try:
        import ntptime  # portable: ok (frozen on networked ESP32/RP2 builds)

        ntptime.host = host
        ntptime.settime()
        return True
    except (ImportError, OSError) as e:
        log.warning("clock not set from NTP (%s): TLS checks may fail", e)
        return False


def run(board, config_path=DEFAULT_CONFIG, app=None, client=None):
    """Run the link until a reboot: the firmware check first, then updates wired in.

    ``app`` may define ``async def main(link)`` (run next to the link) and ``client``
    (NervesHubLink client callbacks).
    """
    import asyncio

    from nerves_hub_link import update_manager
    from nerves_hub_link.config import Config, build
    from nerves_hub_link.link import Link

    cfg = build(Config.from_json_file(config_path))
    hal = BoardHAL(board, cfg.data_path)
    link = Link(cfg, hal, client if client is not None else getattr(app, "client", None))
    update_manager.attach(link, hal, cfg, firmware=BoardFirmware(board), dev=board.dev,
                          retry=cfg.download_retry(),
                          make_applier=applier_factory(board, cfg.fwup_task,
                                                       cfg.fwup_env or None))

    async def main():
        if app is not None and hasattr(app, "main"):
            asyncio.create_task(app.main(link))
        await link.run()

    asyncio.run(main())
    return link
