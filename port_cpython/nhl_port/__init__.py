"""CPython port of nerves_hub_link: file-backed flash, asyncio + ssl networking,
a KV file, fast crypto from hashlib and `cryptography`, Linux I2C.

``install()`` registers the accelerators on ``nerves_hub_link.accel``.
"""


def install():
    """Register CPython's fast crypto with the portable package."""
    from nhl_port import accel

    accel.install()
