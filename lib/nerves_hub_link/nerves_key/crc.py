"""CRC-16 of the ATECC508A/608A: polynomial 0x8005, init 0, input bits LSB first, no final XOR.

Covers the count byte and payload of every command and response group; the chip sends
and expects it little-endian. Largest buffer: none (streams over its input).
"""


def crc16(data, crc=0):
    """CRC-16 of ``data`` (any bytes-like), continuing from ``crc``."""
    for b in data:
        for _ in range(8):
            fb = (b ^ (crc >> 15)) & 1
            crc = (crc << 1) & 0xFFFF
            if fb:
                crc ^= 0x8005
            b >>= 1
    return crc


def crc_bytes(data):
    """The CRC as the two bytes sent on the wire (low byte first)."""
    c = crc16(data)
    return bytes((c & 0xFF, c >> 8))
