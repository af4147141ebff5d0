"""HAL contracts: what a port passes into the portable code.

Everything is duck-typed; this module only documents the shapes and offers a
few helpers. A port (``port_cpython/``, ``boards/<board>/``) builds these objects
and hands them to the link; nothing in ``lib/`` imports a platform module by name.

Block device (MicroPython's protocol)::

    readblocks(block_num, buf[, offset])    # fills buf
    writeblocks(block_num, buf[, offset])   # 2-arg form erases first; 3-arg form never erases
    ioctl(op, arg)                          # 4: block count, 5: block size (None = 512), 6: erase
                                            # 3: sync

Firmware KV: ``get(key) -> str | None``, ``set(mapping)``, ``all() -> dict``
(the ``nerves_fw_*`` keys, backed by a U-Boot environment).

Network: ``await open_connection(host, port, tls)`` -> ``(reader, writer)``
where ``reader.read(n)`` / ``reader.readinto(buf)`` and ``writer.write(b)`` +
``await writer.drain()`` + ``writer.close()`` behave like asyncio streams.

TLS context factory: ``tls_context(ca_certs_der, cert_der, key_der, server_name)``.

I2C: ``writeto(addr, buf)``, ``readfrom_into(addr, buf)``.

Clock: ``ticks_ms()`` (monotonic, integer ms), ``unix_time()`` (seconds since
1970 even on ports whose epoch is 2000).

Reboot: ``reboot()`` does not return.

NervesKey (optional): ``nerves_key(options)`` -> ``nerves_hub_link.nerves_key.NervesKey``
on the board's I2C bus (see ``nerves_hub_link.nerves_key_identity.setup``).

Accelerators are optional callables set on ``nerves_hub_link.accel``.

A port may ship a module named ``nhl_port`` with an ``install()`` function; the
command-line entry points call it when it is importable so the port can register
its accelerators.
"""

IOCTL_SYNC = 3
IOCTL_BLOCK_COUNT = 4
IOCTL_BLOCK_SIZE = 5
IOCTL_BLOCK_ERASE = 6


def block_size(dev):
    """Block size of a block device (512 when it answers None)."""
    n = dev.ioctl(IOCTL_BLOCK_SIZE, 0)
    return n if n else 512


def install_port():
    """Import the port's ``nhl_port`` module if there is one and let it register itself."""
    try:
        import nhl_port  # portable: ok (optional port hook, found on the path)
    except ImportError:
        return None
    install = getattr(nhl_port, "install", None)
    if install:
        install()
    return nhl_port
