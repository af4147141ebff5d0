"""NervesHub device client for MicroPython and CPython.

The portable package: everything here runs on MicroPython boards and on CPython.
Ports pass HAL objects in (see ``nerves_hub_link.hal``); nothing here imports a
platform module by name.
"""

__version__ = "0.1.0"
