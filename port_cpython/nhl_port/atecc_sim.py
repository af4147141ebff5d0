"""A simulated ATECC508A/608A on a HAL I2C interface, for tests and ``nhl nerves-key --sim``.

Models what a NervesKey reader touches: sleep/awake/idle states and the wake pulse
(a write to address 0), ``04 11 33 43``, NACKs while asleep or executing, the watchdog
(1.3 s after wake; 0xEE for a command that would not finish in the window), command
count/CRC checks (0xFF), parse errors (0x03), execution errors (0x0F) for unlocked or
secret reads, Read/Info/Random/Nonce/GenKey/Sign, and reads past the output returning
0xFF. Signing uses `cryptography` with RFC 6979 deterministic ECDSA.

Time is a ``SimClock`` shared with the driver: ``sleep_ms`` advances it, nothing sleeps.
Load a chip from JSON in vectors.json's format with ``AteccSim.from_json(path_or_dict)``.
``faults`` is a list consumed one entry per command write: ``"nack"`` (NACK the write),
``"crc"`` (corrupt the response CRC), ``("status", s)`` (answer status ``s``),
``("busy", ms)`` (run ``ms`` longer), ``None`` (behave).
"""

import errno
import hashlib
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from nerves_hub_link.nerves_key.config_zone import SLOT_SIZES
from nerves_hub_link.nerves_key.crc import crc_bytes

WAKE_REPLY = b"\x04\x11\x33\x43"
T_WHI_MS = 1.5
WATCHDOG_MS = 1300

# opcode -> (typical ms the simulated chip stays busy, max ms used for the watchdog check)
EXEC_MS = {
    0x02: (1, 5), 0x16: (1, 29), 0x1B: (1, 23), 0x30: (1, 5), 0x40: (11, 115),
    0x41: (42, 115), 0x12: (7, 45), 0x17: (8, 35),
}


class SimClock:
    """Integer-ms clock the driver and the simulator share (``sleep_ms`` advances it)."""

    def __init__(self, now=0):
        self.now = now

    def sleep_ms(self, ms):
        self.now += ms

    def ticks_ms(self):
        return self.now


class _Status(Exception):
    def __init__(self, status):
        super().__init__(status)
        self.status = status


def _nack():
    return OSError(errno.ENODEV, "I2C NACK")


class AteccSim:
    """The chip; ``writeto``/``readfrom_into`` make it a HAL I2C bus with one device."""

    def __init__(self, config, otp, slots, private_key_scalar=None, clock=None, address=0x60,
                 watchdog_ms=WATCHDOG_MS):
        self.config = bytearray(config)
        self.otp = bytearray(otp)
        self.data = [bytearray(n) for n in SLOT_SIZES]
        for i, b in slots.items():
            self.data[int(i)][:len(b)] = b
        self.keys = {}
        if private_key_scalar is not None:
            self.keys[0] = ec.derive_private_key(int.from_bytes(private_key_scalar, "big"),
                                                 ec.SECP256R1())
        self.clock = clock or SimClock()
        self.address = address
        self.watchdog_ms = watchdog_ms
        self.state = "sleep"
        self.tempkey = None
        self.msgdigest = None
        self.out = b""
        self.rptr = 0
        self.busy_until = 0
        self.ready_at = 0
        self.woke = 0
        self.rng_counter = 0
        self.faults = []
        self.log = []  # ("w" | "r", addr, bytes)
        self.commands = []  # command groups received, bytes from the count byte on

    @classmethod
    def from_json(cls, src, **kw):
        """A chip from vectors.json (or just its ``chip_image``), a path or a parsed dict."""
        if isinstance(src, str):
            with open(src) as f:
                src = json.load(f)
        image = src.get("chip_image", src)
        scalar = image.get("device_private_key_scalar", src.get("device_private_key_scalar"))
        slots = {int(k): bytes.fromhex(v) for k, v in image.get("slots", {}).items()}
        return cls(bytes.fromhex(image["config_zone"]), bytes.fromhex(image["otp_zone"]), slots,
                   bytes.fromhex(scalar) if scalar else None, **kw)

    # -- state ---------------------------------------------------------------------------
    @property
    def is_608(self):
        return self.config[6] == 0x60

    @property
    def data_locked(self):
        return self.config[86] != 0x55

    @property
    def config_locked(self):
        return self.config[87] != 0x55

    def _now(self):
        return self.clock.now

    def _tick(self):
        if self.state == "awake" and self._now() - self.woke >= self.watchdog_ms:
            self._sleep()

    def _sleep(self):
        self.state = "sleep"
        self.tempkey = None
        self.msgdigest = None

    def public_key(self, slot=0):
        pub = self.keys[slot].public_key().public_numbers()
        return pub.x.to_bytes(32, "big") + pub.y.to_bytes(32, "big")

    # -- HAL I2C -------------------------------------------------------------------------
    def writeto(self, addr, buf):
        buf = bytes(buf)
        self.log.append(("w", addr, buf))
        self._tick()
        if addr == 0:
            if self.state != "awake":
                if self.state == "sleep":
                    self.tempkey = None
                self.state = "awake"
                self.woke = self._now()
                self.ready_at = self.woke + T_WHI_MS
                self.out, self.rptr = WAKE_REPLY, 0
            raise _nack()
        if addr != self.address or self.state != "awake" or self._now() < self.busy_until:
            raise _nack()
        if not buf:
            return
        word = buf[0]
        if word == 0x00:
            self.rptr = 0
        elif word == 0x01:
            self._sleep()
        elif word == 0x02:
            self.state = "idle"
        elif word == 0x03:
            fault = self.faults.pop(0) if self.faults else None
            if fault == "nack":
                raise _nack()
            self._command(buf[1:], fault)

    def readfrom_into(self, addr, buf):
        self._tick()
        now = self._now()
        if addr != self.address or self.state != "awake" or now < self.busy_until \
                or now < self.ready_at:
            raise _nack()
        n = len(buf)
        chunk = self.out[self.rptr:self.rptr + n]
        chunk += b"\xff" * (n - len(chunk))
        self.rptr += n
        buf[:] = chunk
        self.log.append(("r", addr, bytes(chunk)))

    # -- commands ------------------------------------------------------------------------
    def _respond(self, payload, corrupt=False):
        group = bytes((len(payload) + 3,)) + payload
        crc = crc_bytes(group)
        if corrupt:
            crc = bytes((crc[0] ^ 0xFF, crc[1]))
        self.out, self.rptr = group + crc, 0

    def _command(self, grp, fault):
        self.commands.append(grp)
        now = self._now()
        if len(grp) < 1 or grp[0] != len(grp) or len(grp) < 7:
            self._respond(b"\xff" if len(grp) < 7 or grp[0] != len(grp) else b"\x03")
            return
        if crc_bytes(grp[:-2]) != grp[-2:]:
            self._respond(b"\xff")
            return
        op, p1, p2, data = grp[1], grp[2], grp[3] | (grp[4] << 8), grp[5:-2]
        typ, mx = EXEC_MS.get(op, (1, 5))
        if isinstance(fault, tuple) and fault[0] == "busy":
            typ += fault[1]
        if now + mx > self.woke + self.watchdog_ms:
            self._respond(b"\xee")
            return
        if isinstance(fault, tuple) and fault[0] == "status":
            self._respond(bytes((fault[1],)))
        else:
            try:
                self._respond(self._execute(op, p1, p2, data), corrupt=fault == "crc")
            except _Status as e:
                self._respond(bytes((e.status,)), corrupt=fault == "crc")
        self.busy_until = now + typ

    def _execute(self, op, p1, p2, data):
        handler = {
            0x02: self._read, 0x30: self._info, 0x1B: self._random, 0x16: self._nonce,
            0x40: self._genkey, 0x41: self._sign,
        }.get(op)
        if handler is None:
            raise _Status(0x03)
        return handler(p1, p2, data)

    def _slot_config(self, slot):
        return self.config[20 + 2 * slot] | (self.config[21 + 2 * slot] << 8)

    def _key_config(self, slot):
        return self.config[96 + 2 * slot] | (self.config[97 + 2 * slot] << 8)

    def _read(self, p1, p2, data):
        if p1 & 0x7C or data:
            raise _Status(0x03)
        zone, size = p1 & 3, 32 if p1 & 0x80 else 4
        if zone == 0 or zone == 1:
            mem = self.config if zone == 0 else self.otp
            if zone == 1 and not self.data_locked:
                raise _Status(0x0F)
            off = (p2 & ~7) * 4 if size == 32 else p2 * 4
            if off + size > len(mem) or p2 >> 8:
                raise _Status(0x03)
            return bytes(mem[off:off + size])
        if zone != 2:
            raise _Status(0x03)
        slot, block, word = (p2 >> 3) & 0x0F, p2 >> 8, p2 & 7
        if not self.data_locked:
            raise _Status(0x0F)
        cfg = self._slot_config(slot)
        if cfg & 0x80 or cfg & 0x40:  # IsSecret / EncryptRead: never in clear
            raise _Status(0x0F)
        off = block * 32 + (0 if size == 32 else word * 4)
        mem = self.data[slot]
        if off >= len(mem) or (size == 4 and off + 4 > len(mem)):
            raise _Status(0x03)
        out = bytes(mem[off:off + size])
        return out + bytes(size - len(out))

    def _info(self, p1, p2, data):
        if p1 == 0:
            return bytes(self.config[4:8])
        if p1 == 2:
            return b"\x00\x00\x00\x00"
        raise _Status(0x03)

    def _rand(self):
        if not self.config_locked:
            return b"\xff\xff\x00\x00" * 8
        self.rng_counter += 1
        return hashlib.sha256(b"atecc-sim rng %d" % self.rng_counter).digest()

    def _random(self, p1, p2, data):
        if data:
            raise _Status(0x03)
        return self._rand()

    def _nonce(self, p1, p2, data):
        mode = p1 & 3
        if not self.is_608 and p1 & 0xFC:
            raise _Status(0x03)
        target = (p1 >> 6) & 3
        if mode == 3:
            if len(data) != 32 or target > 1:
                raise _Status(0x03)
            if target == 1:
                self.msgdigest = bytes(data)
            else:
                self.tempkey = bytes(data)
            return b"\x00"
        if mode == 2 or len(data) != 20:
            raise _Status(0x03)
        rand = self._rand()
        self.tempkey = hashlib.sha256(rand + bytes(data) + bytes((0x16, p1, 0))).digest()
        return rand

    def _genkey(self, p1, p2, data):
        slot = p2
        if slot > 15 or len(data) not in (0, 3):
            raise _Status(0x03)
        kc = self._key_config(slot)
        if not kc & 1 or (kc >> 2) & 7 != 4:
            raise _Status(0x0F)
        if p1 == 0x00:
            if slot not in self.keys or not kc & 2:
                raise _Status(0x0F)
            return self.public_key(slot)
        if p1 == 0x04:
            locked = not ((self.config[88] | (self.config[89] << 8)) >> slot) & 1
            if locked:
                raise _Status(0x0F)
            self.keys[slot] = ec.generate_private_key(ec.SECP256R1())
            return self.public_key(slot)
        raise _Status(0x03)

    def _sign(self, p1, p2, data):
        slot = p2
        allowed = 0xA0 if self.is_608 else 0x80
        if p1 & 0x80 == 0 or p1 & ~allowed & 0xFF or data or slot > 15:
            raise _Status(0x03)
        msg = self.msgdigest if p1 & 0x20 else self.tempkey
        if msg is None or slot not in self.keys or not self._slot_config(slot) & 1:
            raise _Status(0x0F)
        sig = self.keys[slot].sign(
            msg, ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True))
        r, s = decode_dss_signature(sig)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
