"""`nhl nerves-key`: read a NervesKey (ATECC508A/608A) on a Linux I2C bus or a simulated chip.

  nhl nerves-key [--bus /dev/i2c-1 | --sim chip.json] info
  nhl nerves-key [--bus 1 | --sim chip.json] export --pair primary|aux --out DIR

``export`` writes DIR/device.pem and DIR/signer.pem (the certificates rebuilt exactly as
NervesKey does). ``--sim`` takes a JSON chip image in tests/fixtures/nerves-key/vectors.json's
format. The default bus is 1 (NervesHubLink's default), the default address 0x60.
"""

import argparse
import os
import sys

from nerves_hub_link.errors import ConfigError, NervesHubError


def register(subparsers):
    p = subparsers.add_parser(
        "nerves-key", help="read identity and certificates from a NervesKey",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--bus", default=None, help="I2C bus: number or /dev/i2c-N (default 1)")
    src.add_argument("--sim", metavar="FILE", help="use a simulated chip loaded from JSON")
    p.add_argument("--address", type=lambda s: int(s, 0), default=0x60,
                   help="7-bit I2C address (default 0x60)")
    sub = p.add_subparsers(dest="nk_command", metavar="ACTION")
    info = sub.add_parser("info", help="print chip type, serial numbers, locks, certificates")
    info.set_defaults(func=cmd_info)
    exp = sub.add_parser("export", help="write device.pem and signer.pem")
    exp.add_argument("--pair", choices=("primary", "aux"), default="primary")
    exp.add_argument("--out", default=".", help="output directory (default .)")
    exp.set_defaults(func=cmd_export)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def open_key(args):
    """A NervesKey on the simulator or a Linux bus; returns (nerves_key, closer)."""
    from nerves_hub_link.nerves_key import NervesKey

    if args.sim:
        from nhl_port.atecc_sim import AteccSim, SimClock

        clock = SimClock()
        try:
            chip = AteccSim.from_json(args.sim, clock=clock, address=args.address)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ConfigError("cannot load the simulated chip %s: %s: %s"
                              % (args.sim, type(e).__name__, e),
                              hint="give a vectors.json chip image (config_zone, otp_zone, "
                                   "slots)")
        return NervesKey(chip, clock.sleep_ms, clock.ticks_ms, args.address), None
    from nhl_port.i2c_linux import LinuxI2C, sleep_ms, ticks_ms

    bus = LinuxI2C(args.bus if args.bus is not None else 1)
    return NervesKey(bus, sleep_ms, ticks_ms, args.address), bus.close


def _run(args, fn):
    closer = None
    try:
        nk, closer = open_key(args)
        return fn(nk)
    except NervesHubError as e:
        print("nhl nerves-key: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:  # writing the exported files
        print("nhl nerves-key: %s" % e, file=sys.stderr)
        return 1
    finally:
        if closer:
            closer()


def cmd_info(args):
    def show(nk):
        cfg = nk.config()
        locks = cfg.lock_status()
        print("device type:      %s (revision %s)" % (cfg.device_type, cfg.revision.hex()))
        print("serial number:    %s" % nk.serial_number())
        print("locks:            config=%s data=%s slot0=%s" % (
            _yn(locks["config"]), _yn(locks["data"]), _yn(locks["slot0"])))
        print("provisioning:     %s" % cfg.provisioning_mode)
        if not cfg.provisioned:
            return 0
        print("board name:       %s" % nk.board_name())
        print("manufacturer SN:  %s" % nk.manufacturer_sn())
        print("public key:       %s" % nk.public_key().hex())
        print("aux certificates: %s" % _yn(nk.has_aux_certificates()))
        for pair in ("primary", "aux") if nk.has_aux_certificates() else ("primary",):
            print("%s device cert: %d bytes DER" % (pair, len(nk.device_cert(pair))))
            print("%s signer cert: %d bytes DER" % (pair, len(nk.signer_cert(pair))))
        return 0

    return _run(args, show)


def cmd_export(args):
    from nerves_hub_link.nerves_key.der import pem

    def export(nk):
        device = nk.device_cert(args.pair)
        signer = nk.signer_cert(args.pair)
        os.makedirs(args.out, exist_ok=True)
        for name, der in (("device.pem", device), ("signer.pem", signer)):
            path = os.path.join(args.out, name)
            with open(path, "w") as f:
                f.write(pem(der))
            print("wrote %s (%d bytes DER)" % (path, len(der)))
        return 0

    return _run(args, export)


def _yn(b):
    return "yes" if b else "no"
