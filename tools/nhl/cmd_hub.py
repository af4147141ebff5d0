"""`nhl hub`: run the local NervesHub simulator, or talk to a running one.

    nhl hub --init DIR                      create CA, certificates, secrets, device configs
    nhl hub --dir DIR [--port N ...]        run the simulator (Ctrl-C stops it)
    nhl hub devices                         list devices (admin API)
    nhl hub show DEVICE                     one device with every message it sent
    nhl hub deploy DEVICE FILE              host FILE and send an `update` to DEVICE
    nhl hub push DEVICE EVENT [JSON]        push any event (reboot, identify, ...)
    nhl hub faults NAME JSON                fault plan for the next firmware requests
    nhl hub console DEVICE                  the device's remote console (Ctrl-] quits)
    nhl hub upload DEVICE FILE              send FILE to the device's data_path (console)
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

DEFAULT_ADMIN = "http://127.0.0.1:4444"


def register(subparsers):
    p = subparsers.add_parser(
        "hub", help="local NervesHub simulator (TLS, NH1, Phoenix channels, firmware hosting)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--init", metavar="DIR",
                   help="write a test CA, server cert (127.0.0.1/localhost), device certs "
                        "(DER and PEM), NH1 secrets, hub.json and device configs into DIR, "
                        "then exit")
    p.add_argument("--device", action="append", default=None, metavar="ID",
                   help="with --init: device identifier to issue a certificate for "
                        "(repeatable; default device-1)")
    p.add_argument("--dir", default=".", help="simulator directory made by --init (default .)")
    p.add_argument("--host", default=None, help="address to listen on (default from hub.json, "
                                                "127.0.0.1)")
    p.add_argument("--port", type=int, default=None,
                   help="TLS device port (default from hub.json, 4443; 0 = ephemeral)")
    p.add_argument("--admin-port", type=int, default=None,
                   help="loopback admin HTTP port (default from hub.json, 4444; 0 = ephemeral)")
    p.add_argument("--plain-port", type=int, default=None,
                   help="also listen without TLS on this port (tests/JS clients only; "
                        "devices may identify with ?identifier=NAME)")
    p.add_argument("--public-host", default=None,
                   help="host name used in firmware URLs (default: the listen address)")
    p.add_argument("--max-age", type=int, default=None,
                   help="NH1 token lifetime in seconds (default 90, like NervesHub)")
    p.add_argument("--idle-timeout", type=int, default=None,
                   help="drop a device after this many silent seconds (default 180)")
    p.add_argument("--admin", default=None,
                   help="admin URL for client actions (default from --dir hub.json or %s)"
                        % DEFAULT_ADMIN)
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("devices", help="list devices with status and progress")
    s = sub.add_parser("show", help="one device: summary, join params, messages")
    s.add_argument("device")
    s.add_argument("--since", type=int, default=0, help="skip the first N messages")
    s = sub.add_parser("deploy", help="host a firmware file and send it to a device")
    s.add_argument("device")
    s.add_argument("file")
    s = sub.add_parser("push", help="push an event on a device topic")
    s.add_argument("device")
    s.add_argument("event", help="e.g. reboot, identify, update")
    s.add_argument("payload", nargs="?", default="{}", help="JSON payload (default {})")
    s.add_argument("--topic", default="device")
    s = sub.add_parser("faults", help="fault plan for the next requests of a hosted firmware")
    s.add_argument("name", help="firmware name (basename of the deployed file)")
    s.add_argument("plan", help='JSON list, one entry per request, e.g. '
                                '\'[{"drop_after": 1000}, {"status": 500}, {"ignore_range": true},'
                                ' {"stall": true, "stall_after": 0, "stall_s": 30}]\'')
    s = sub.add_parser("console", help="interactive remote console of a device (Ctrl-] quits)")
    s.add_argument("device")
    s = sub.add_parser("upload", help="send a file to a device's data_path over the console")
    s.add_argument("device")
    s.add_argument("file")
    p.set_defaults(func=main)


def _admin_url(args):
    if args.admin:
        return args.admin.rstrip("/")
    path = os.path.join(args.dir, "hub.json")
    if os.path.exists(path):
        try:
            with open(path) as f:
                return "http://127.0.0.1:%d" % json.load(f).get("admin_port", 4444)
        except (OSError, ValueError, AttributeError, TypeError) as e:
            raise _Usage("cannot read the admin port from %s: %s (pass --admin URL)"
                         % (path, e))
    return DEFAULT_ADMIN


def admin_call(base, method, path, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode() or "null")


def main(args):
    if args.init:
        from nhl.hub import init_dir

        if os.path.exists(os.path.join(args.init, "hub.json")):
            print("nhl hub: %s is already a simulator directory; --init would replace its CA "
                  "and secrets and lock out every device set up from it (use another DIR, or "
                  "delete %s first)" % (args.init, os.path.join(args.init, "hub.json")),
                  file=sys.stderr)
            return 1
        hub = init_dir(args.init, devices=tuple(args.device or ["device-1"]))
        print("nhl hub: initialised %s (TLS port %d, admin port %d)"
              % (args.init, hub["tls_port"], hub["admin_port"]))
        print("  run:     nhl hub --dir %s" % args.init)
        print("  devices: nhl device --config %s/device-cert.json   (client certificate)"
              % args.init)
        print("           nhl device --config %s/device-nh1.json    (NH1 shared secret)"
              % args.init)
        return 0
    if args.action:
        return _client_action(args)
    return _serve(args)


class _Usage(Exception):
    """A bad command-line argument (exit 2)."""


def _json_arg(what, text):
    try:
        return json.loads(text)
    except ValueError as e:
        raise _Usage("%s is not valid JSON: %s: %r" % (what, e, text[:80]))


def _client_action(args):
    try:
        base = _admin_url(args)
    except _Usage as e:
        print("nhl hub: %s" % e, file=sys.stderr)
        return 2
    if not base.startswith(("http://", "https://")):
        print("nhl hub: --admin %r is not an http:// URL (e.g. %s)" % (base, DEFAULT_ADMIN),
              file=sys.stderr)
        return 2
    if args.action == "console":
        from nhl.hub.terminal import run

        return run(base, args.device)
    try:
        if args.action == "devices":
            devs = admin_call(base, "GET", "/admin/devices")
            if not devs:
                print("no devices")
            for d in devs:
                print("%-24s %-9s %-14s status=%s progress=%s firmware=%s" % (
                    d["identifier"], "online" if d["connected"] else "offline",
                    ",".join(d["joined"]) or "-", d["status"], d["progress"],
                    d["firmware_version"]))
        elif args.action == "show":
            print(json.dumps(admin_call(base, "GET", "/admin/devices/%s?since=%d"
                                        % (args.device, args.since)), indent=2))
        elif args.action == "deploy":
            payload = admin_call(base, "POST", "/admin/devices/%s/deploy" % args.device,
                                 {"file": os.path.abspath(args.file)})
            print("deployed %s to %s: %s" % (args.file, args.device, payload["firmware_url"]))
        elif args.action == "push":
            admin_call(base, "POST", "/admin/devices/%s/push" % args.device,
                       {"topic": args.topic, "event": args.event,
                        "payload": _json_arg("payload", args.payload)})
        elif args.action == "upload":
            r = admin_call(base, "POST", "/admin/devices/%s/console/upload" % args.device,
                           {"file": os.path.abspath(args.file)}, timeout=600)
            print("sent %s to %s: %d bytes in %d chunks" % (args.file, args.device, r["size"],
                                                          r["chunks"]))
        elif args.action == "faults":
            admin_call(base, "POST", "/admin/firmware/%s/faults" % args.name,
                       {"faults": _json_arg("plan", args.plan)})
    except _Usage as e:
        print("nhl hub: %s: %s" % (args.action, e), file=sys.stderr)
        return 2
    except urllib.error.HTTPError as e:
        print("nhl hub: %s: HTTP %d %s" % (args.action, e.code, e.read().decode().strip()),
              file=sys.stderr)
        return 1
    except urllib.error.URLError as e:
        print("nhl hub: cannot reach the simulator at %s: %s (is `nhl hub` running?)"
              % (base, e.reason), file=sys.stderr)
        return 1
    return 0


def _serve(args):
    import asyncio

    from nhl.hub import load, load_settings

    if not os.path.exists(os.path.join(args.dir, "hub.json")):
        print("nhl hub: %s/hub.json not found; run `nhl hub --init %s` first"
              % (args.dir, args.dir), file=sys.stderr)
        return 2
    try:
        cfg = load_settings(args.dir)
        host = args.host or cfg.get("host", "127.0.0.1")
        hub = load(args.dir, public_host=args.public_host or host,
                   allow_anonymous=args.plain_port is not None,
                   log=lambda line: print(line, flush=True))
    except (OSError, ValueError, KeyError, AttributeError) as e:
        print("nhl hub: cannot load the simulator from %s: %s: %s (re-create it with "
              "`nhl hub --init NEWDIR`)" % (args.dir, type(e).__name__, e), file=sys.stderr)
        return 2
    if args.max_age is not None:
        hub.state.settings["max_age_s"] = args.max_age
    if args.idle_timeout is not None:
        hub.state.settings["idle_timeout_s"] = args.idle_timeout

    async def serve():
        ports = await hub.start(
            host,
            tls_port=args.port if args.port is not None else cfg.get("tls_port", 4443),
            plain_port=args.plain_port,
            admin_port=args.admin_port if args.admin_port is not None
            else cfg.get("admin_port", 4444))
        print("nhl hub: listening %s" % json.dumps(ports, sort_keys=True), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await hub.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    except OSError as e:  # a port in use, an address this host does not have
        print("nhl hub: cannot listen: %s (is another `nhl hub` running? --port 0 and "
              "--admin-port 0 pick free ports)" % e, file=sys.stderr)
        return 1
    return 0
