"""Test double of MicroPython's ``network`` module: a WLAN that joins known networks.

``known[ssid] = password`` decides which ``connect()`` calls succeed; ``connect`` with a
wrong password ends in ``STAT_WRONG_PASSWORD``, an unknown SSID in ``STAT_NO_AP_FOUND``.
"""

STA_IF = 0
AP_IF = 1
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_WRONG_PASSWORD = -3
STAT_NO_AP_FOUND = -2
STAT_GOT_IP = 3

known = {}
_hostname = "mpy-device"


def hostname(name=None):
    global _hostname
    if name is None:
        return _hostname
    _hostname = name
    return None


class WLAN:
    def __init__(self, interface_id=STA_IF):
        self._if = interface_id
        self._active = False
        self._status = STAT_IDLE
        self.connects = 0

    def active(self, state=None):
        if state is None:
            return self._active
        self._active = bool(state)
        return None

    def connect(self, ssid=None, key=None, **kw):
        if not self._active:
            raise OSError("Wifi Not Started")
        self.connects += 1
        if ssid not in known:
            self._status = STAT_NO_AP_FOUND
        elif known[ssid] != key:
            self._status = STAT_WRONG_PASSWORD
        else:
            self._status = STAT_GOT_IP

    def disconnect(self):
        self._status = STAT_IDLE

    def status(self, param=None):
        if param == "rssi":
            return -50
        return self._status

    def isconnected(self):
        return self._status == STAT_GOT_IP

    def ifconfig(self, cfg=None):
        if self.isconnected():
            return ("192.168.4.20", "255.255.255.0", "192.168.4.1", "192.168.4.1")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def config(self, *args, **kw):
        if args and args[0] == "mac":
            return b"\x24\x0a\xc4\x00\x11\x22"
        return None
