"""Join payloads for the "device", "console" and "extensions" topics (spec 3.1-3.3).

Pure functions over a dict of every firmware KV entry (``nerves_fw_active``,
``a.nerves_fw_uuid``, ...); nothing is read from a device here.
"""

from nerves_hub_link.errors import ConfigError

DEVICE_API_VERSION = "2.3.0"  # announces the meta field / firmware_validated (spec 3.1)
CONSOLE_VERSION = "2.0.0"
DEFAULT_SLOT = "a"


def active_slot(kv):
    """The active firmware slot (``nerves_fw_active``), default "a"."""
    return kv.get("nerves_fw_active") or DEFAULT_SLOT


def active_keys(kv):
    """Every ``<active>.<key>`` entry with the slot prefix removed."""
    prefix = active_slot(kv) + "."
    n = len(prefix)
    return {k[n:]: str(v) for k, v in kv.items() if k.startswith(prefix) and len(k) > n}


def firmware_validated(kv):
    """``upgrade_available`` "0"/"1" decides; else slot or global ``nerves_fw_validated``
    "1"/"0"; unknown counts as validated."""
    ua = kv.get("upgrade_available")
    if ua == "0":
        return True
    if ua == "1":
        return False
    v = kv.get(active_slot(kv) + ".nerves_fw_validated")
    if v is None:
        v = kv.get("nerves_fw_validated")
    return v != "0"


def auto_revert_detected(kv):
    """The other slot holds an unvalidated firmware with platform and architecture set."""
    slot = active_slot(kv)
    other = "b" if slot == "a" else "a"
    return (kv.get(other + ".nerves_fw_validated") == "0"
            and bool(kv.get(other + ".nerves_fw_platform"))
            and bool(kv.get(other + ".nerves_fw_architecture")))


def _check_kv(kv):
    if not isinstance(kv, dict):
        raise ConfigError("firmware KV must be a dict of str -> str, got %r" % (type(kv),))


def device_join_payload(kv_all, fwup_version, device_api_version=DEVICE_API_VERSION,
                        console_version=CONSOLE_VERSION, currently_downloading_uuid=None,
                        request_fwup_public_keys=False, request_archive_public_keys=False,
                        firmware_validated_value=None, auto_revert_value=None, meta=True):
    """Payload of the ``"device"`` phx_join.

    Active-slot KV keys without their prefix, ``fwup_version``, ``device_api_version``,
    ``console_version``, ``currently_downloading_uuid`` (None -> null), and ``meta``
    (``firmware_validated``/``firmware_auto_revert_detected`` from the KV unless given).
    The ``*_public_keys: "on_connect"`` requests are added when asked for.
    """
    _check_kv(kv_all)
    if not isinstance(fwup_version, str) or not fwup_version:
        raise ConfigError("fwup_version must be a version string, got %r" % (fwup_version,))
    p = active_keys(kv_all)
    p["fwup_version"] = fwup_version
    p["device_api_version"] = device_api_version
    p["console_version"] = console_version
    p["currently_downloading_uuid"] = currently_downloading_uuid
    if request_fwup_public_keys:
        p["fwup_public_keys"] = "on_connect"
    if request_archive_public_keys:
        p["archive_public_keys"] = "on_connect"
    if meta:
        fv = firmware_validated(kv_all) if firmware_validated_value is None \
            else bool(firmware_validated_value)
        ar = auto_revert_detected(kv_all) if auto_revert_value is None else bool(auto_revert_value)
        p["meta"] = {"firmware_validated": fv, "firmware_auto_revert_detected": ar}
    return p


def console_join_payload(console_version=CONSOLE_VERSION, device_api_version=DEVICE_API_VERSION):
    """Payload of the ``"console"`` phx_join (HEAD form: just the two versions)."""
    return {"console_version": console_version, "device_api_version": device_api_version}


def extensions_join_payload(extensions=None):
    """Payload of the ``"extensions"`` phx_join: ``{name: version}``.

    ``extensions`` is a dict or a list of (name, version) pairs; None or empty declines
    every extension (the server then attaches nothing).
    """
    items = extensions.items() if isinstance(extensions, dict) else (extensions or ())
    out = {}
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2
                and isinstance(item[0], str) and isinstance(item[1], str)):
            raise ConfigError("extension entries must be (name, version) strings, got %r"
                              % (item,))
        out[item[0]] = item[1]
    return out
