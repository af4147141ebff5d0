"""Test double of MicroPython's ``esp32`` module: ``Partition`` over a simulated NOR flash.

Models the documented behaviour of ``ports/esp32/esp32_partition.c`` and ESP-IDF's OTA
bootloader closely enough to test an updater:

- flash is NOR: erase sets a 4096-byte sector to 0xFF; a write without erase can only clear
  bits (new = old AND data), exactly like ``esp_partition_write`` on real flash;
- ``writeblocks(n, buf)`` erases ``len(buf)`` bytes first (must be whole sectors when the
  partition's block size is 4096), ``writeblocks(n, buf, off)`` never erases;
- ``ioctl(6, n)`` erases one block and is refused unless block_size == 4096;
- ``set_boot()`` validates the app image (first byte 0xE9 and a plausible segment count)
  and raises ``OSError(-5379)`` (ESP_ERR_OTA_VALIDATE_FAILED) otherwise;
- rollback: a new boot partition starts as "new"; the first boot makes it "pending verify";
  a reset while still pending makes the bootloader mark it "aborted" and boot the previous
  app; ``mark_app_valid_cancel_rollback()`` makes the running app "valid".

The chip (partition table, flash contents, otadata) lives in the module-level ``chip`` and
survives simulated resets; ``reset_chip()`` builds a fresh one and ``boot()`` runs the
bootloader step (``machine.reset()`` of the ``machine`` double calls it).
Largest buffer: one bytearray per partition that holds data (apps and writable data parts).
"""

BOOT = 0
RUNNING = 1
TYPE_APP = 0
TYPE_DATA = 1

SECTOR = 4096
_ERASED = b"\xff" * SECTOR
_PIECE = 512  # bytes programmed per step (see Partition._program)
ESP_ERR_OTA_VALIDATE_FAILED = -5379
ESP_ERR_NOT_SUPPORTED = -262
ESP_ERR_OTA_ROLLBACK_INVALID_STATE = -261
ESP_ERR_INVALID_SIZE = 0x104
EINVAL = 22
ENOENT = 2

IMAGE_MAGIC = 0xE9

# (label, type, subtype, addr, size) like partitions-4MiB-ota.csv, with smaller app slots so
# the whole flash fits a test heap. ota_0/ota_1 are subtypes 0x10/0x11.
DEFAULT_TABLE = (
    ("nvs", TYPE_DATA, 0x02, 0x9000, 0x6000),
    ("otadata", TYPE_DATA, 0x00, 0xF000, 0x2000),
    ("phy_init", TYPE_DATA, 0x01, 0x11000, 0x1000),
    ("ota_0", TYPE_APP, 0x10, 0x20000, 0x20000),
    ("ota_1", TYPE_APP, 0x11, 0x40000, 0x20000),
)

# MicroPython's partitions-4MiB-ota.csv (ESP32_GENERIC, variant OTA); use with ``store_dir``.
OTA_4MIB_TABLE = (
    ("nvs", TYPE_DATA, 0x02, 0x9000, 0x4000),
    ("otadata", TYPE_DATA, 0x00, 0xD000, 0x2000),
    ("phy_init", TYPE_DATA, 0x01, 0xF000, 0x1000),
    ("ota_0", TYPE_APP, 0x10, 0x10000, 0x180000),
    ("ota_1", TYPE_APP, 0x11, 0x190000, 0x180000),
)
# A factory app plus two OTA slots: the factory app may write both slots.
FACTORY_TABLE = (
    ("nvs", TYPE_DATA, 0x02, 0x9000, 0x4000),
    ("otadata", TYPE_DATA, 0x00, 0xD000, 0x2000),
    ("factory", TYPE_APP, 0x00, 0x10000, 0x10000),
    ("ota_0", TYPE_APP, 0x10, 0x20000, 0x20000),
    ("ota_1", TYPE_APP, 0x11, 0x40000, 0x20000),
)

STATE_NEW = "new"
STATE_PENDING = "pending_verify"
STATE_VALID = "valid"
STATE_ABORTED = "aborted"


class Chip:
    """Flash contents, partition table and OTA boot state of one simulated ESP32."""

    def __init__(self, table=DEFAULT_TABLE, rollback=True, running="ota_0", store_dir=None):
        self.table = tuple(table)
        self.rollback = rollback
        self.data = {}
        for label, ptype, _sub, _addr, size in self.table:
            if ptype == TYPE_APP or label not in ("nvs", "otadata", "phy_init"):
                if store_dir:
                    self.data[label] = FileStore(store_dir + "/" + label + ".bin", size)
                else:
                    self.data[label] = _erased(size)
        self.erases = 0
        self.boot_label = running
        self.running = running
        self.states = {running: STATE_VALID}
        self.boots = 0

    def entry(self, label):
        for e in self.table:
            if e[0] == label:
                return e
        return None

    def app_labels(self):
        return [e[0] for e in self.table if e[1] == TYPE_APP and e[2] >= 0x10]

    def image_ok(self, label):
        d = self.data[label]
        return d[0] == IMAGE_MAGIC and 1 <= d[1] <= 16

    def boot(self):
        """The bootloader step after a hard reset: returns the label that now runs."""
        self.boots += 1
        sel = self.boot_label
        state = self.states.get(sel, STATE_VALID)
        if state == STATE_PENDING and self.rollback:
            # The app never confirmed itself: ESP-IDF aborts it and returns to the last valid app.
            self.states[sel] = STATE_ABORTED
            sel = self._fallback(sel)
        elif state == STATE_NEW and self.rollback:
            self.states[sel] = STATE_PENDING
        if not self.image_ok(sel):
            sel = self._fallback(sel)
        self.boot_label = sel
        self.running = sel
        return sel

    def _fallback(self, bad):
        for label in self.app_labels():
            if label != bad and self.states.get(label) == STATE_VALID and self.image_ok(label):
                return label
        raise OSError(ENOENT)  # a brick: no valid app left


def _erased(size):
    """A RAM partition of 0xFF bytes, allocated once (no temporary of the same size)."""
    b = bytearray(size)
    blank = b"\xff" * SECTOR
    for i in range(0, size, SECTOR):
        b[i:i + SECTOR] = blank
    return b


class FileStore:
    """Partition contents in a file (so big partitions do not count against a test heap).

    Supports what ``Partition`` needs from a bytearray: ``len``, slice reads, slice writes
    and ``d[i]``.
    """

    def __init__(self, path, size):
        self.path = path
        self.size = size
        with open(path, "wb") as f:
            blank = b"\xff" * SECTOR
            for _ in range(size // SECTOR):
                f.write(blank)

    def __len__(self):
        return self.size

    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop = i.start or 0, self.size if i.stop is None else i.stop
            if start < 0:
                start += self.size
            if stop < 0:
                stop += self.size
            with open(self.path, "rb") as f:
                f.seek(start)
                return f.read(max(0, stop - start))
        return self[i:i + 1][0]

    def __setitem__(self, i, data):
        start = i.start or 0
        with open(self.path, "r+b") as f:
            f.seek(start)
            f.write(data)

    def readinto(self, start, buf):
        with open(self.path, "rb") as f:
            f.seek(start)
            f.readinto(buf)


chip = Chip(table=())  # no partitions until a test calls reset_chip()


def reset_chip(table=DEFAULT_TABLE, rollback=True, running="ota_0", image=None, store_dir=None):
    """Start a fresh simulated chip; ``image`` (bytes) is programmed into ``running``.

    ``store_dir`` keeps partition contents in files there instead of RAM.
    """
    global chip
    import gc

    chip = None
    gc.collect()  # let the previous chip's flash go before allocating the next
    chip = Chip(table, rollback, running, store_dir)
    if image is not None:
        chip.data[running][0:len(image)] = image
    return chip


def boot():
    return chip.boot()


def _register():
    import machine

    if boot not in machine.reset_hooks:
        machine.reset_hooks.append(boot)


_register()


class Partition:
    BOOT = BOOT
    RUNNING = RUNNING
    TYPE_APP = TYPE_APP
    TYPE_DATA = TYPE_DATA

    def __init__(self, id, block_size=SECTOR):
        if id == RUNNING:
            label = chip.running
        elif id == BOOT:
            label = chip.boot_label
        else:
            label = id
        e = chip.entry(label)
        if e is None:
            raise ValueError("partition not found")
        if block_size <= 0 or block_size & (block_size - 1):
            raise ValueError("invalid block size")
        self._e = e
        self.block_size = block_size

    @classmethod
    def find(cls, type=TYPE_APP, subtype=0xFF, label=None, block_size=SECTOR):
        out = []
        for e in chip.table:
            if e[1] != type:
                continue
            if subtype != 0xFF and e[2] != subtype:
                continue
            if label is not None and e[0] != label:
                continue
            out.append(cls(e[0], block_size))
        return out

    def info(self):
        label, ptype, sub, addr, size = self._e
        return (ptype, sub, addr, size, label, False)

    def __repr__(self):
        label, ptype, sub, addr, size = self._e
        return "<Partition type=%d, subtype=%d, address=%d, size=%d, label=%s, encrypted=0>" % (
            ptype, sub, addr, size, label)

    def _buf(self):
        d = chip.data.get(self._e[0])
        if d is None:
            raise OSError(ESP_ERR_NOT_SUPPORTED)
        return d

    def _range(self, start, n):
        if start < 0 or n < 0 or start + n > self._e[4]:
            raise OSError(ESP_ERR_INVALID_SIZE)

    def readblocks(self, block_num, buf, offset=0):
        start = block_num * self.block_size + offset
        self._range(start, len(buf))
        d = self._buf()
        if isinstance(d, FileStore):
            d.readinto(start, buf)
        else:
            buf[:] = d[start:start + len(buf)]

    def writeblocks(self, block_num, buf, offset=None):
        start = block_num * self.block_size + (offset or 0)
        n = len(buf)
        self._range(start, n)
        d = self._buf()
        if offset is None:
            if self.block_size < SECTOR:
                # The port does read-modify-erase-write through a 4 KiB cache.
                s0 = start - start % SECTOR
                s1 = start + n + (-(start + n)) % SECTOR
                keep = bytearray(d[s0:s1])
                keep[start - s0:start - s0 + n] = buf
                self._erase(s0, s1 - s0)
                self._program(s0, keep)
                return
            if start % SECTOR or n % SECTOR:
                raise OSError(ESP_ERR_INVALID_SIZE)
            self._erase(start, n)
        self._program(start, buf)

    def _erase(self, start, n):
        d = self._buf()
        for s in range(start, start + n, SECTOR):
            d[s:s + SECTOR] = _ERASED
            chip.erases += 1

    def _program(self, start, buf):
        # NOR flash can only clear bits: the result is old AND new. Done in small pieces: the
        # port's flash driver needs no heap, so the double must not need blocks of a sector
        # either (heap measurements run through it).
        d = self._buf()
        mv = memoryview(buf)
        n = len(mv)
        for pos in range(0, n, _PIECE):
            k = min(_PIECE, n - pos)
            old = int.from_bytes(d[start + pos:start + pos + k], "big")
            new = int.from_bytes(mv[pos:pos + k], "big")
            d[start + pos:start + pos + k] = (old & new).to_bytes(k, "big")

    def ioctl(self, op, arg):
        if op in (1, 2, 3):
            return 0
        if op == 4:
            return self._e[4] // self.block_size
        if op == 5:
            return self.block_size
        if op == 6:
            if self.block_size != SECTOR:
                return -EINVAL
            self._range(arg * SECTOR, SECTOR)
            self._erase(arg * SECTOR, SECTOR)
            return 0
        return None

    def set_boot(self):
        label = self._e[0]
        if self._e[1] != TYPE_APP or not chip.image_ok(label):
            raise OSError(ESP_ERR_OTA_VALIDATE_FAILED)
        chip.boot_label = label
        if label != chip.running:
            chip.states[label] = STATE_NEW
        return None

    def get_next_update(self):
        apps = chip.app_labels()
        label = self._e[0]
        if label not in apps:
            label = chip.running
        if label not in apps:
            return Partition(apps[0], self.block_size)  # from a factory app: ota_0
        i = apps.index(label)
        return Partition(apps[(i + 1) % len(apps)], self.block_size)

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        if not chip.rollback:
            raise OSError(ESP_ERR_OTA_ROLLBACK_INVALID_STATE)
        chip.states[chip.running] = STATE_VALID
        return None
