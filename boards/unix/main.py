"""MicroPython unix device: ``micropython boards/unix/main.py --config FILE``.

Run from the repository root with ``MICROPYPATH=lib:boards/unix:.frozen``. Options:
``--config FILE`` (required, the JSON device config shared with CPython),
``--on-reboot restart|exit`` (default restart: the device starts again in-process),
``--set KEY=JSON`` (override a config key, repeatable).
"""

import asyncio
import json
import sys

from nerves_hub_link import log
from nerves_hub_link.config import Config
from nerves_hub_link.errors import ConfigError, NervesKeyError
from nerves_hub_link.link import make_device
from nerves_hub_link.nerves_key_identity import setup as nerves_key_setup
from unix_hal import UnixHAL

if "boards/common" not in sys.path:
    sys.path.append("boards/common")  # nhl_envkv: the KV in a U-Boot environment


def parse_args(argv):
    opts = {"config": None, "on_reboot": "restart", "set": {}}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        if i + 1 >= len(argv):
            raise ConfigError("option %s needs a value" % a)
        v = argv[i + 1]
        if a == "--config":
            opts["config"] = v
        elif a == "--on-reboot":
            if v not in ("restart", "exit"):
                raise ConfigError("--on-reboot must be restart or exit, got %r" % v)
            opts["on_reboot"] = v
        elif a == "--set":
            k, eq, val = v.partition("=")
            if not k or not eq:
                raise ConfigError("--set %r is not KEY=JSON" % v)
            try:
                opts["set"][k] = json.loads(val)
            except ValueError:
                opts["set"][k] = val
        else:
            raise ConfigError("unknown option %s" % a)
        i += 2
    if not opts["config"]:
        raise ConfigError("--config FILE is required")
    return opts


def _env_kv():
    try:
        from nhl_envkv import EnvKV
    except ImportError:
        return None
    return EnvKV


def run_once(opts):
    cfg = Config.from_json_file(opts["config"], opts["set"])
    hal = UnixHAL(cfg.data_path)
    cfg, link_hal = nerves_key_setup(cfg, hal)  # unchanged without "nerves_key"
    link = make_device(cfg, link_hal, env_kv=_env_kv())
    link.check_tls()
    hal.on_reboot = link.stop
    asyncio.run(link.run())
    return hal.reboot_requested


def main(argv):
    try:
        opts = parse_args(argv)
        while run_once(opts):
            if opts["on_reboot"] != "restart":
                break
            log.state("restarting")
    except ConfigError as e:
        log.state("error", "config: %s" % e)
        return 2
    except NervesKeyError as e:
        log.state("error", "nerves_key: %s" % e)
        return 2
    return 0


sys.exit(main(sys.argv[1:]))
