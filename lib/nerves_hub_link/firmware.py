"""A/B firmware slots: activation, validation and automatic revert, Nerves style.

All state lives in the firmware KV (``get``/``set``/``all``; a U-Boot environment on a
device), with the keys Nerves systems use:

* ``nerves_fw_active`` -- the slot that boots (``"a"`` or ``"b"``);
* ``<slot>.nerves_fw_*`` -- that slot's metadata (uuid, version, platform, ...);
* ``upgrade_available`` -- ``"1"`` while the booted slot is on trial (U-Boot bootcount);
* ``bootcount`` / ``bootlimit`` -- trial boots so far / allowed (default 1);
* ``nerves_fw_validated``, ``<slot>.nerves_fw_validated`` -- ``"1"`` once marked valid;
* ``nerves_fw_autovalidate`` (global or per slot) -- ``"1"``: the first boot validates.

The life of an update: the fwup task's ``on-finish`` (or ``activate()``) switches
``nerves_fw_active``; ``after_update(previous)`` puts the new slot on trial. At every boot
``validate_on_boot()`` runs before anything else, playing U-Boot's bootcount role: a
trial slot gets ``bootlimit`` boots to call ``mark_valid()`` (the link does that after it
joined NervesHub); a slot that never validates is left on the next reboot and the old slot
boots again. ``revert()`` switches back by hand. Largest buffer: none.
"""

from nerves_hub_link.errors import UpdateError

SLOTS = ("a", "b")
DEFAULT_BOOTLIMIT = 1

VALID = "valid"  # nothing on trial
TRIAL = "trial"  # booted a slot that has not validated yet
VALIDATED = "validated"  # auto-validated at this boot
REVERTED = "reverted"  # the trial slot used up its boots; the previous slot is active


def other_slot(slot):
    """"b" for "a", else "a"."""
    return "b" if slot == "a" else "a"


class Firmware:
    """Slot bookkeeping over a firmware KV (see the module docstring)."""

    def __init__(self, kv, bootlimit=None):
        self.kv = kv
        self._bootlimit = bootlimit

    # --- reading ------------------------------------------------------------------
    def active(self):
        """The slot that boots (``nerves_fw_active``, default "a")."""
        s = self.kv.get("nerves_fw_active")
        return s if s else SLOTS[0]

    def slot_info(self, slot=None):
        """``{key: value}`` of one slot's ``<slot>.`` keys, prefix removed."""
        prefix = (slot or self.active()) + "."
        out = {}
        items = self.kv.all()
        for k in items:
            if k.startswith(prefix):
                out[k[len(prefix):]] = items[k]
        return out

    def active_uuid(self):
        """UUID of the firmware in the active slot, or None."""
        return self.kv.get(self.active() + ".nerves_fw_uuid")

    def on_trial(self):
        """True while the booted slot waits for ``mark_valid()``."""
        return self.kv.get("upgrade_available") == "1"

    def is_valid(self):
        """Nerves ``firmware_valid?``: ``upgrade_available`` first, then the validated flags."""
        ua = self.kv.get("upgrade_available")
        if ua == "0":
            return True
        if ua == "1":
            return False
        v = self.kv.get(self.active() + ".nerves_fw_validated")
        if v is None:
            v = self.kv.get("nerves_fw_validated")
        return v != "0"

    def auto_revert_detected(self):
        """The other slot holds firmware that was left unvalidated (a revert happened)."""
        o = other_slot(self.active()) + "."
        return (self.kv.get(o + "nerves_fw_validated") == "0"
                and bool(self.kv.get(o + "nerves_fw_platform"))
                and bool(self.kv.get(o + "nerves_fw_architecture")))

    def bootlimit(self):
        """Trial boots allowed before the revert (``bootlimit`` key, default 1)."""
        if self._bootlimit is not None:
            return self._bootlimit
        v = self.kv.get("bootlimit")
        return int(v) if v and v.isdigit() and int(v) > 0 else DEFAULT_BOOTLIMIT

    def autovalidate(self, slot=None):
        """True when ``nerves_fw_autovalidate`` (per slot, else global) is "1"."""
        v = self.kv.get((slot or self.active()) + ".nerves_fw_autovalidate")
        if v is None:
            v = self.kv.get("nerves_fw_autovalidate")
        return v == "1"

    # --- changing -----------------------------------------------------------------
    def mark_valid(self):
        """Accept the running slot: no revert at the next boot. Returns True if it changed."""
        slot = self.active()
        if (self.kv.get("upgrade_available") == "0" and self.kv.get("bootcount") == "0"
                and self.kv.get(slot + ".nerves_fw_validated") == "1"
                and self.kv.get("nerves_fw_validated") == "1"):
            return False
        self.kv.set({
            "upgrade_available": "0",
            "bootcount": "0",
            "nerves_fw_validated": "1",
            slot + ".nerves_fw_validated": "1",
        })
        return True

    def activate(self, slot):
        """Make ``slot`` the one that boots next, on trial (for tasks that do not switch)."""
        if slot not in SLOTS:
            raise UpdateError("unknown firmware slot %r (expected 'a' or 'b')" % (slot,))
        self.kv.set({"nerves_fw_active": slot})
        self._trial(slot)

    def after_update(self, previous_slot):
        """Call after a successful apply: puts the newly active slot on trial.

        Returns the new slot, or None when the task did not switch slots (nothing to do).
        """
        slot = self.active()
        if slot == previous_slot:
            return None
        self._trial(slot)
        return slot

    def _trial(self, slot):
        self.kv.set({
            "upgrade_available": "1",
            "bootcount": "0",
            "nerves_fw_validated": "0",
            slot + ".nerves_fw_validated": "0",
        })

    def validate_on_boot(self):
        """Run once per boot, before the firmware starts. Returns VALID, TRIAL, VALIDATED or
        REVERTED (then the previous slot is active; its data is what boots)."""
        if self.kv.get("upgrade_available") != "1":
            return VALID
        if self.autovalidate():
            self.mark_valid()
            return VALIDATED
        count = self.kv.get("bootcount")
        n = (int(count) if count and count.isdigit() else 0) + 1
        if n > self.bootlimit():
            self._switch_back()
            return REVERTED
        self.kv.set({"bootcount": str(n)})
        return TRIAL

    def revert(self):
        """Boot the other slot next (the caller reboots). Raises UpdateError if it is empty."""
        old = other_slot(self.active())
        if not (self.kv.get(old + ".nerves_fw_uuid") or self.kv.get(old + ".nerves_fw_version")
                or self.kv.get(old + ".nerves_fw_platform")):
            raise UpdateError("cannot revert: slot %r holds no firmware" % old,
                              hint="only a slot written by an earlier update can be reverted to")
        self._switch_back()
        return old

    def _switch_back(self):
        failed = self.active()
        old = other_slot(failed)
        self.kv.set({
            "nerves_fw_active": old,
            "upgrade_available": "0",
            "bootcount": "0",
            failed + ".nerves_fw_validated": "0",
            "nerves_fw_validated": self.kv.get(old + ".nerves_fw_validated") or "1",
        })
