"""Firmware KV over a U-Boot environment stored on a block device.

The board's fwup device (a ``FlashMap``) holds the environment that fwup's
``uboot_setenv`` actions write, so this KV reads exactly what an update wrote. It offers the
HAL contract ``get(key)``, ``set(mapping)`` (``None`` deletes), ``all()``.

A blank or corrupt environment reads as empty (``valid`` is then False) and the next
``set`` writes a fresh one. With ``redund_offset`` the environment is redundant (two copies
with a flag byte, fwup's rules): each write goes to the older copy, so a power cut during a
write leaves the previous generation readable. Largest buffer: two environments
(``block_count * 512`` bytes each, redundant) while reading or writing.
"""

from nerves_hub_link.errors import FwupError
from nerves_hub_link.fwup import uboot_env

BLOCK = 512


class EnvKV:
    """The ``nerves_fw_*`` keys in a U-Boot environment at ``block_offset``."""

    def __init__(self, dev, block_offset, block_count, redund_offset=None):
        self.dev = dev
        self.offset = block_offset
        self.count = block_count
        self.redund = redund_offset
        self.size = block_count * BLOCK
        self.valid = False
        self._flags = 0
        self._targets = (True, True)

    def _copy(self, blk):
        """(read, size) of the copy at ``blk``, read a block at a time (``uboot_env.PIECE``)."""
        def read(off, n):
            first = off // BLOCK
            buf = bytearray(((off + n + BLOCK - 1) // BLOCK - first) * BLOCK)
            self.dev.readblocks(blk + first, buf)
            return memoryview(buf)[off - first * BLOCK:off - first * BLOCK + n]

        return read, self.size

    def _load(self):
        try:
            if self.redund is None:
                read, size = self._copy(self.offset)
                env = uboot_env.decode_from(read, size, False, self.offset, True)
                self._targets = (True, False)
            else:
                env, self._flags, wp, wr = uboot_env.choose_read(
                    self._copy(self.offset), self._copy(self.redund), self.offset, self.redund)
                self._targets = (wp, wr)
            self.valid = True
        except FwupError:
            env = {}
            self.valid = False
            self._flags = 0
            self._targets = (True, self.redund is not None)
        out = {}
        for k in env:
            out[str(k, "utf-8")] = str(env[k], "utf-8")
        return out

    def all(self):
        return self._load()

    def get(self, key):
        return self._load().get(key)

    def set(self, mapping):
        env = self._load()
        for k in mapping:
            v = mapping[k]
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        wp, wr = self._targets
        if self.redund is None:
            self.dev.writeblocks(self.offset, uboot_env.encode(env, self.size))
        else:
            img = uboot_env.encode(env, self.size, True, self._flags + 1)
            if wp:
                self.dev.writeblocks(self.offset, img)
            if wr:
                self.dev.writeblocks(self.redund, img)
        self.dev.ioctl(3, 0)
        self.valid = True
