"""Hub state: devices, what they sent, deployed firmware and fault plans.

All methods run on the hub's event loop. ``changed`` is notified on every change so
tests and the admin API can wait for a condition instead of sleeping.
"""

import asyncio
import time


class DeviceRecord:
    """What the hub knows about one device identifier."""

    def __init__(self, identifier):
        self.identifier = identifier
        self.auth = None              # "certificate" | "shared_secret" | "anonymous"
        self.connection = None        # the live Connection, or None
        self.connections = 0          # how many websockets were accepted in total
        self.joined = set()           # topics joined on the live connection
        self.join_params = {}         # topic -> last join payload
        self.messages = []            # every frame received: dicts (see Connection.record)
        self.heartbeats = 0
        self.status = None            # last status_update status
        self.progress = None          # last fwup_progress value
        self.stage = None
        self.pending_update = None    # update payload delivered on the next join
        self.last_seen = None
        self.refusals = []            # reasons of refused connection attempts

    def summary(self):
        params = self.join_params.get("device") or {}
        return {
            "identifier": self.identifier,
            "connected": self.connection is not None,
            "joined": sorted(self.joined),
            "auth": self.auth,
            "connections": self.connections,
            "status": self.status,
            "progress": self.progress,
            "stage": self.stage,
            "heartbeats": self.heartbeats,
            "messages": len(self.messages),
            "firmware_uuid": params.get("nerves_fw_uuid"),
            "firmware_version": params.get("nerves_fw_version"),
            "pending_update": self.pending_update is not None,
            "last_seen": self.last_seen,
        }


class Firmware:
    """A hosted firmware file and its per-request fault plan."""

    def __init__(self, name, path, meta):
        self.name = name
        self.path = path
        self.meta = meta
        self.faults = []              # consumed one per request, oldest first
        self.requests = []            # {"range", "status", "sent", "fault"}


class HubState:
    def __init__(self, clock=time.time):
        self.devices = {}
        self.firmware = {}
        self.refusals = []            # every refused upgrade: {"path", "status", "reason"}
        self.clock = clock
        self.settings = {
            "max_age_s": 90,          # NH1 token lifetime (srv-HEAD)
            "clock_offset_s": 0,      # added to the hub's clock for NH1 checks
            "idle_timeout_s": 180,    # websocket silence before the hub drops a device
            "max_message": 1 << 20,
        }
        self.changed = asyncio.Condition()

    def now(self):
        return self.clock() + self.settings["clock_offset_s"]

    def device(self, identifier):
        d = self.devices.get(identifier)
        if d is None:
            d = self.devices[identifier] = DeviceRecord(identifier)
        return d

    async def notify(self):
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate, timeout):
        """Wait until ``predicate()`` is true; raise ``asyncio.TimeoutError`` after *timeout* s."""
        async def waiter():
            async with self.changed:
                await self.changed.wait_for(predicate)
        await asyncio.wait_for(waiter(), timeout)

    def refuse(self, path, status, reason, identifier=None):
        entry = {"path": path, "status": status, "reason": reason, "identifier": identifier}
        self.refusals.append(entry)
        if identifier:
            self.device(identifier).refusals.append(reason)
