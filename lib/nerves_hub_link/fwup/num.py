"""``to_int``: C ``strtoull(s, NULL, 0)`` number parsing for meta.conf values (no buffers)."""


def to_int(s, strict=False):
    """Parse like C ``strtoull(s, NULL, 0)``: ``0x`` hex, leading ``0`` octal, else decimal.

    Leading whitespace and one sign are accepted. Non-strict: stops at the first bad
    character (``"12ab"`` -> 12, ``""`` -> 0). Strict: the whole string must be a number,
    else ``ValueError``.
    """
    i = 0
    n = len(s)
    while i < n and s[i] in " \t\n\r\f\v":
        i += 1
    neg = False
    if i < n and s[i] in "+-":
        neg = s[i] == "-"
        i += 1
    base = 10
    if i + 1 < n and s[i] == "0" and s[i + 1] in "xX" and i + 2 < n and s[i + 2] in _HEX:
        base = 16
        i += 2
    elif i < n and s[i] == "0":
        base = 8
    start = i
    v = 0
    while i < n:
        d = _digit(s[i])
        if d < 0 or d >= base:
            break
        v = v * base + d
        i += 1
    if strict and (i != n or i == start):
        raise ValueError("not a number: %r" % s)
    return -v if neg else v


_HEX = "0123456789abcdefABCDEF"


def _digit(c):
    if "0" <= c <= "9":
        return ord(c) - 48
    if "a" <= c <= "f":
        return ord(c) - 87
    if "A" <= c <= "F":
        return ord(c) - 55
    return -1
