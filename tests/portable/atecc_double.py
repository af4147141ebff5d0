# A small ATECC chip double for the portable NervesKey tests (runs on MicroPython too).
# It answers Read/Info/Random/GenKey(public)/Nonce(pass-through)/Sign from a vectors.json
# chip image; Sign returns the canned `sign_reply` (no ECDSA on MicroPython). It NACKs
# while asleep or busy, wakes on a write to address 0 and records every transfer.
# `faults` is consumed one entry per command write: "nack", "crc", ("status", s),
# ("busy", ms), "garbage_wake" (applies to the next wake instead).
import binascii
import json

from nerves_hub_link.nerves_key.crc import crc_bytes

SLOT_SIZES = (36, 36, 36, 36, 36, 36, 36, 36, 416, 72, 72, 72, 72, 72, 72, 72)
WAKE_REPLY = b"\x04\x11\x33\x43"


def _hex(s):
    return binascii.unhexlify(s)


def load_vectors(path="tests/fixtures/nerves-key/vectors.json"):
    with open(path) as f:
        return json.load(f)


class Clock:
    def __init__(self):
        self.now = 0

    def sleep_ms(self, ms):
        self.now += ms

    def ticks_ms(self):
        return self.now


class AteccDouble:
    def __init__(self, vectors, clock, address=0x60):
        img = vectors["chip_image"]
        self.config = bytearray(_hex(img["config_zone"]))
        self.otp = _hex(img["otp_zone"])
        self.slots = {}
        for k in img["slots"]:
            self.slots[int(k)] = _hex(img["slots"][k])
        self.pub = _hex(vectors["device_public_key_raw"])
        self.clock = clock
        self.address = address
        self.awake = False
        self.woke = 0
        self.busy_until = 0
        self.out = b""
        self.ptr = 0
        self.tempkey = None
        self.sign_reply = bytes(range(64))
        self.faults = []
        self.wake_faults = []
        self.log = []  # (addr, bytes) for every write
        self.groups = []  # command groups without the word address

    def writeto(self, addr, buf):
        buf = bytes(buf)
        self.log.append((addr, buf))
        now = self.clock.now
        if self.awake and now - self.woke >= 1300:
            self.awake = False
        if addr == 0:
            if not self.awake:
                self.awake = True
                self.woke = now
                self.ptr = 0
                self.out = WAKE_REPLY
                if self.wake_faults:
                    self.wake_faults.pop(0)
                    self.out = b"\x23\x00\x01\x02"
            raise OSError(19)
        if addr != self.address or not self.awake or now < self.busy_until:
            raise OSError(19)
        if buf[0] == 1 or buf[0] == 2:
            self.awake = False
            if buf[0] == 1:
                self.tempkey = None
            return
        if buf[0] != 3:
            return
        fault = self.faults.pop(0) if self.faults else None
        if fault == "nack":
            raise OSError(19)
        grp = buf[1:]
        self.groups.append(grp)
        busy = 1
        if isinstance(fault, tuple) and fault[0] == "busy":
            busy += fault[1]
        self.busy_until = now + busy
        if crc_bytes(grp[:-2]) != grp[-2:]:
            payload = b"\xff"
        elif isinstance(fault, tuple) and fault[0] == "status":
            payload = bytes((fault[1],))
        else:
            payload = self._execute(grp[1], grp[2], grp[3] | (grp[4] << 8), grp[5:-2])
        group = bytes((len(payload) + 3,)) + payload
        crc = crc_bytes(group)
        if fault == "crc":
            crc = bytes((crc[0] ^ 0x55, crc[1]))
        self.out = group + crc
        self.ptr = 0

    def readfrom_into(self, addr, buf):
        now = self.clock.now
        if self.awake and now - self.woke >= 1300:
            self.awake = False
        if addr != self.address or not self.awake or now < self.busy_until:
            raise OSError(19)
        n = len(buf)
        chunk = self.out[self.ptr:self.ptr + n]
        chunk = chunk + b"\xff" * (n - len(chunk))
        self.ptr += n
        for i in range(n):
            buf[i] = chunk[i]

    def _execute(self, op, p1, p2, data):
        locked = self.config[86] != 0x55
        if op == 0x02:
            size = 32 if p1 & 0x80 else 4
            zone = p1 & 3
            if zone == 0:
                off = (p2 & ~7) * 4 if size == 32 else p2 * 4
                return bytes(self.config[off:off + size])
            if not locked:
                return b"\x0f"
            if zone == 1:
                off = (p2 & ~7) * 4 if size == 32 else p2 * 4
                return self.otp[off:off + size]
            slot = (p2 >> 3) & 15
            if slot == 0:
                return b"\x0f"
            off = (p2 >> 8) * 32 + (0 if size == 32 else (p2 & 7) * 4)
            mem = self.slots[slot]
            out = mem[off:off + size]
            return out + bytes(size - len(out))
        if op == 0x30:
            return bytes(self.config[4:8])
        if op == 0x1B:
            return b"\xa5" * 32
        if op == 0x40 and p1 == 0 and p2 == 0:
            return self.pub
        if op == 0x16 and p1 == 0x03 and len(data) == 32:
            self.tempkey = data
            return b"\x00"
        if op == 0x41 and p1 == 0x80:
            return self.sign_reply if self.tempkey is not None else b"\x0f"
        return b"\x03"
