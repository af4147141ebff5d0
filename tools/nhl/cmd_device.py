"""`nhl device --config FILE`: run a NervesHub device on CPython.

The config is the JSON device config shared with MicroPython boards (see docs/link.md);
flags override its keys. The firmware KV (``kv.json``) and the flash image live in
``data_path``. The device prints one ``nhl: <state>`` line per state change.

``--nerves-key-sim FILE`` uses the simulated ATECC608A loaded from FILE (a vectors.json chip
image) as the device's NervesKey: its manufacturer serial becomes the identifier. CPython's
``ssl`` cannot let the chip sign a TLS handshake, so pair it with a ``shared_secret``.
"""

import argparse
import json
import sys


def _port(text):
    """argparse type: a TCP port (the config would warn and fall back to 443)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 0 < n < 65536:
        raise argparse.ArgumentTypeError("%r is not a port (1..65535)" % text)
    return n


def register(subparsers):
    p = subparsers.add_parser(
        "device", help="run a CPython NervesHub device from a JSON config",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="JSON device config file")
    p.add_argument("--host", help="server host (overrides config host)")
    p.add_argument("--port", type=_port, help="server port (1..65535)")
    p.add_argument("--url", help="server URL wss://host:port (overrides host/port)")
    p.add_argument("--sni", help="TLS server name to verify (default: host)")
    p.add_argument("--data-path", help="device data directory (KV, flash image)")
    p.add_argument("--ca-certs", help="server CA file (PEM or DER)")
    p.add_argument("--cert", help="client certificate (PEM or DER)")
    p.add_argument("--key", help="client private key (PEM or DER)")
    p.add_argument("--identifier", help="device identifier / serial number")
    p.add_argument("--heartbeat-ms", type=int, help="Phoenix heartbeat interval (0 = off)")
    p.add_argument("--reconnect-ms", help="comma-separated reconnect delays, e.g. 100,200,500")
    p.add_argument("--nerves-key-sim", metavar="FILE",
                   help="use a simulated NervesKey loaded from FILE (JSON chip image)")
    p.add_argument("--remote-console", action="store_true", default=None,
                   help="join the console topic")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="override any config key with a JSON value (repeatable)")
    p.add_argument("--on-reboot", choices=("exec", "exit"), default="exec",
                   help="what a reboot does: re-execute this process (default) or exit 0")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                   help="log verbosity (default from the config, info)")
    p.set_defaults(func=main)


def overrides_from(args):
    """Config overrides from command-line flags."""
    o = {}
    simple = {"host": args.host, "port": args.port, "url": args.url, "sni": args.sni,
              "data_path": args.data_path, "ca_certs": args.ca_certs, "cert": args.cert,
              "key": args.key, "identifier": args.identifier,
              "heartbeat_interval_ms": args.heartbeat_ms, "remote_console": args.remote_console,
              "log_level": args.log_level}
    for k, v in simple.items():
        if v is not None:
            o[k] = v
    if args.reconnect_ms:
        try:
            o["reconnect_after_ms"] = [int(x) for x in args.reconnect_ms.split(",")]
        except ValueError:
            from nerves_hub_link.errors import ConfigError

            raise ConfigError("--reconnect-ms %r is not a list of integers" % args.reconnect_ms,
                              hint="give milliseconds separated by commas, e.g. 100,200,500")
    if getattr(args, "nerves_key_sim", None):
        o["nerves_key_sim"] = args.nerves_key_sim
    for item in args.set:
        k, eq, v = item.partition("=")
        if not k or not eq:
            from nerves_hub_link.errors import ConfigError

            raise ConfigError("--set %r is not KEY=JSON" % item,
                              hint='e.g. --set heartbeat_interval_ms=5000 --set '
                                   'remote_console=true')
        try:
            o[k] = json.loads(v)
        except ValueError:
            o[k] = v
    return o


def _env_kv():
    """The U-Boot-environment KV class of the board helpers (None outside a checkout)."""
    import os

    common = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "boards", "common")
    if common not in sys.path and os.path.isdir(common):
        sys.path.append(common)
    try:
        from nhl_envkv import EnvKV
    except ImportError:
        return None
    return EnvKV


def main(args):
    import asyncio

    from nerves_hub_link import hal, log
    from nerves_hub_link.config import Config
    from nerves_hub_link.errors import ConfigError, NervesKeyError
    from nerves_hub_link.link import make_device
    from nerves_hub_link.nerves_key_identity import setup as nerves_key_setup
    from nhl_port.device import CPythonHAL

    hal.install_port()
    try:
        over = overrides_from(args)
        reconnect = over.pop("reconnect_after_ms", None)
        nk_sim = over.pop("nerves_key_sim", None)
        cfg = Config.from_json_file(args.config, over)
        if reconnect:
            cfg.socket["reconnect_after_ms"] = reconnect
        if nk_sim:  # merged into the file's nerves_key options (bus, pair...)
            cfg.update({"nerves_key": dict(cfg.nerves_key, sim=nk_sim)})
        device_hal = CPythonHAL(cfg.data_path, reboot=args.on_reboot)
        cfg, device_hal = nerves_key_setup(cfg, device_hal)
        link = make_device(cfg, device_hal, env_kv=_env_kv())
        link.check_tls()
        asyncio.run(link.run())
    except ConfigError as e:
        log.state("error", "config: %s" % e)
        print("nhl device: %s" % e, file=sys.stderr)
        return 2
    except NervesKeyError as e:
        log.state("error", "nerves_key: %s" % e)
        print("nhl device: NervesKey: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
