# heapsize: 256K
# NervesKey driver over the I2C chip double: exact frames of the Elixir transport log,
# certificate rebuild, identity, signing flow, errors (missing ACK, CRC, 0x0F, watchdog)
# and the retry policy. Time is a fake clock: sleep_ms advances it.
import binascii

from atecc_double import AteccDouble, Clock, load_vectors
from nerves_hub_link.nerves_key import NervesKey, bus, commands, link
from nerves_hub_link.nerves_key.errors import (
    ChipTimeoutError,
    CrcError,
    ExecutionError,
    NoAckError,
    NotProvisionedError,
    StatusError,
    WakeError,
    WatchdogError,
)
from nerves_hub_link.nerves_key.transport import Transport
from support import raises

H = binascii.unhexlify
V = load_vectors()
WAKE = (0, b"\x00")
SLEEP = (0x60, b"\x01")


def make(vectors=V):
    clock = Clock()
    chip = AteccDouble(vectors, clock)
    return chip, clock, NervesKey(chip, clock.sleep_ms, clock.ticks_ms)


def expected_writes(flow):
    out = []
    for entry in V["transport_log"]:
        if entry["flow"] != flow:
            continue
        payload = H(entry["payload"])
        group = bytes((len(payload) + 3,)) + payload
        from nerves_hub_link.nerves_key.crc import crc_bytes

        frame = b"\x03" + group + crc_bytes(group)
        if "i2c_write" in entry:
            assert frame == H(entry["i2c_write"])
        out += [WAKE, (0x60, frame), SLEEP]
    return out


def test_device_cert_frames_and_der():
    chip, clock, nk = make()
    der = nk.device_cert()
    assert der == H(V["expected"]["device_cert_der"])
    assert chip.log == expected_writes("device_cert")
    assert nk.transport.retries == 0


def test_signer_cert_frames_and_der():
    chip, clock, nk = make()
    assert nk.signer_cert("primary") == H(V["expected"]["signer_cert_der"])
    assert chip.log == expected_writes("signer_cert")


def test_cached_reads_not_repeated():
    chip, clock, nk = make()
    nk.device_cert()
    n = len(chip.log)
    nk.device_cert()
    nk.signer_cert()  # slot 11 is cached: only slot 12 is read
    assert len(chip.log) - n == 4 * 3


def test_identity():
    chip, clock, nk = make()
    assert nk.serial_number() == "01236C1A5E429D07EE"
    assert nk.manufacturer_sn() == V["manufacturer_sn"] == link.identifier(nk)
    assert nk.board_name() == "NervesKey"
    assert nk.default_manufacturer_sn() == V["manufacturer_sn"]
    assert nk.provisioned() and nk.device_type() == "ATECC608"
    assert nk.lock_status() == {"config": True, "data": True, "slot0": True}
    assert nk.revision() == H("00006002")
    assert nk.public_key() == H(V["device_public_key_raw"])
    assert link.identity(nk)["serial_number"] == "01236C1A5E429D07EE"
    assert nk.random() == b"\xa5" * 32
    assert nk.has_aux_certificates() is False
    assert nk.detected()


def test_worked_frames():
    chip, clock, nk = make()
    t = nk.transport
    digest = H("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    with t.transaction():
        commands.info(t)
        commands.random(t)
        commands.read(t, commands.ZONE_CONFIG, 0, 4)
        commands.genkey_public(t, 0)
        commands.nonce_passthrough(t, digest)
        commands.sign_external(t, 0)
    frames = [b for a, b in chip.log if a == 0x60 and b[0] == 3]
    assert frames == [
        H("030730000000035d"), H("0307" "1b000000" "24cd"), H("030702000000" "1e2d"),
        H("0307400000000005"), H("032716030000") + digest + H("c7eb"), H("0307418000002805"),
    ]


def test_sign_digest_one_wake_window():
    chip, clock, nk = make()
    chip.sign_reply = bytes(31) + b"\x01" + b"\x80" + bytes(31)
    sig = nk.sign_digest(b"\x11" * 32)
    assert sig == b"\x30\x26\x02\x01\x01\x02\x21\x00\x80" + bytes(31)
    assert nk.sign_digest(b"\x11" * 32, raw=True) == chip.sign_reply
    writes = chip.log[-4:]
    assert writes[0] == WAKE and writes[3] == SLEEP
    assert writes[1][1][2:4] == b"\x16\x03" and writes[2][1][2:4] == b"\x41\x80"
    e = raises(Exception, nk.sign_digest, b"short")
    assert "32-byte" in str(e)


def test_tls_callback_uses_chip_for_placeholder_only():
    chip, clock, nk = make()
    chip.sign_reply = b"\x01" * 64
    cb = link.tls_ecdsa_sign_callback(nk)
    assert cb(bytearray(b"\x07" * 32), bytearray(32)) is None
    sig = cb(bytearray(link.PLACEHOLDER_SCALAR), bytearray(b"\x22" * 48))  # SHA-384
    assert sig == b"\x30\x44\x02\x20" + b"\x01" * 32 + b"\x02\x20" + b"\x01" * 32
    nonce = [b for a, b in chip.log if a == 0x60 and b[:4] == b"\x03\x27\x16\x03"][-1]
    assert nonce[6:38] == b"\x22" * 32  # leftmost 256 bits of the hash


def test_not_provisioned():
    vec = dict(V)
    img = dict(V["chip_image"])
    cfg = bytearray(H(img["config_zone"]))
    cfg[86] = 0x55
    img["config_zone"] = binascii.hexlify(cfg).decode()
    vec["chip_image"] = img
    chip, clock, nk = make(vec)
    e = raises(NotProvisionedError, nk.device_cert)
    assert "LockValue is 0x55" in str(e)
    chip, clock, nk = make(vec)
    e = raises(NotProvisionedError, nk.signer_cert)  # 0x0F on the slot read, then explained
    assert not nk.provisioned()


def test_missing_ack_gives_up_with_attempts():
    clock = Clock()

    class Empty:
        def writeto(self, addr, buf):
            raise OSError(19)

        def readfrom_into(self, addr, buf):
            raise OSError(19)

    nk = NervesKey(Empty(), clock.sleep_ms, clock.ticks_ms)
    e = raises(NoAckError, nk.revision)
    assert "no ACK from I2C address 0x60 after the wake pulse" in str(e)
    # wake 2 ms per attempt, 100 ms between attempts, 1000 ms budget
    assert e.attempts == 10 and "gave up after 10 attempts" in str(e)
    assert not nk.detected()


def test_command_nack_retried():
    chip, clock, nk = make()
    chip.faults = ["nack"]
    assert nk.revision() == H("00006002")
    assert nk.transport.retries == 1


def test_response_crc_error_retried_then_final():
    chip, clock, nk = make()
    chip.faults = ["crc"]
    assert nk.revision() == H("00006002")
    assert nk.transport.retries == 1
    chip.faults = ["crc"] * 20
    e = raises(CrcError, nk.revision)
    assert "Info(mode 0): response CRC" in str(e) and e.attempts > 1


def test_execution_error_is_final():
    chip, clock, nk = make()
    chip.faults = [("status", 0x0F)]
    e = raises(ExecutionError, nk.revision)
    assert e.status == 0x0F and "status 0x0f, execution error" in str(e)
    assert nk.transport.retries == 0 and e.hint


def test_status_codes():
    for status, retried in ((0x01, False), (0x03, True), (0x05, True), (0x08, False),
                            (0x11, True), (0xFF, True), (0x42, True)):
        chip, clock, nk = make()
        chip.faults = [("status", status)]
        if retried:
            assert nk.revision() == H("00006002"), status
            assert nk.transport.retries == 1
        else:
            e = raises(StatusError, nk.revision)
            assert e.status == status and nk.transport.retries == 0


def test_watchdog_status_retried_then_final():
    chip, clock, nk = make()
    chip.faults = [("status", 0xEE)] * 30
    e = raises(WatchdogError, nk.revision)
    assert e.status == 0xEE and "watchdog" in str(e) and e.attempts == 10


def test_watchdog_expiry_in_long_window():
    chip, clock, nk = make()
    t = nk.transport
    with t.transaction():
        clock.sleep_ms(1400)  # the host stalls; the chip falls asleep on its own
        e = raises(WatchdogError, commands.info, t)
    assert "watchdog has expired" in str(e) and e.status is None


def test_polling_waits_for_busy_chip():
    chip, clock, nk = make()
    chip.faults = [("busy", 30)]
    t0 = clock.now
    assert nk.public_key() == H(V["device_public_key_raw"])
    assert nk.transport.retries == 0 and clock.now - t0 >= 31


def test_poll_timeout():
    chip, clock, nk = make()
    t = nk.transport
    t.timing = commands.TIMING_508A
    with t.transaction():
        chip.faults = [("busy", 50)]
        e = raises(ChipTimeoutError, commands.read, t, 0, 0, 4)
    assert "no response within 5 ms" in str(e)


def test_unexpected_wake_reply_is_retried():
    chip, clock, nk = make()
    chip.wake_faults = [1]
    assert nk.revision() == H("00006002")
    assert nk.transport.retries == 1
    t = Transport(chip, clock.sleep_ms, clock.ticks_ms)
    chip.wake_faults = [1]
    e = raises(WakeError, t.wake)
    assert "expected b'\\x04\\x113C'" in str(e)
    assert chip.log[-1] == SLEEP  # sent back to sleep


def test_machine_i2c_adapter():
    class Machine:
        def __init__(self):
            self.calls = []

        def writeto(self, addr, buf):
            self.calls.append(("w", addr, bytes(buf)))
            if addr == 0:
                raise OSError(19)

        def readfrom_into(self, addr, buf):
            self.calls.append(("r", addr, len(buf)))

    m = Machine()
    a = bus.MachineI2C(m)
    a.wake()
    a.writeto(0x60, b"\x01")
    a.readfrom_into(0x60, bytearray(4))
    assert m.calls == [("w", 0, b"\x00"), ("w", 0x60, b"\x01"), ("r", 0x60, 4)]


def test_bus_device_adapter():
    events = []

    class Dev:
        def __init__(self, i2c, addr, probe=True):
            self.addr = addr
            events.append(("new", addr, probe))

        def __enter__(self):
            events.append(("lock", self.addr))
            return self

        def __exit__(self, *a):
            events.append(("unlock", self.addr))

        def write(self, buf):
            events.append(("write", self.addr, bytes(buf)))
            if self.addr == 0:
                raise OSError(19)

        def readinto(self, buf):
            buf[0] = 4
            events.append(("read", self.addr, len(buf)))

    a = bus.BusDeviceI2C(object(), device_class=Dev)
    a.wake()
    buf = bytearray(4)
    a.readfrom_into(0x60, buf)
    a.writeto(0x60, b"\x01")
    assert buf[0] == 4
    assert events == [
        ("new", 0, False), ("lock", 0), ("write", 0, b"\x00"), ("unlock", 0),
        ("new", 0x60, False), ("lock", 0x60), ("read", 0x60, 4), ("unlock", 0x60),
        ("lock", 0x60), ("write", 0x60, b"\x01"), ("unlock", 0x60),
    ]


def test_unknown_chip_waits_for_slowest_table():
    chip, clock, nk = make()
    chip.faults = [("busy", 600)]  # 608 at clock divider M2: GenKey may take 653 ms
    assert nk.public_key() == H(V["device_public_key_raw"])
    assert nk.transport.retries == 0
    assert nk.transport.timing[commands.OP_GENKEY] == (11, 653)


def test_tls_context_without_sign_callback_points_to_shared_secret():
    from nerves_hub_link.errors import NervesKeyError

    try:
        import tls

        ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    except ImportError:
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    chip, clock, nk = make()
    e = raises(NervesKeyError, link.configure_tls_context, ctx, nk)
    assert "shared secret" in str(e) and "MICROPY_PY_SSL_ECDSA_SIGN_ALT" in str(e)
    assert chip.log == []  # refused before touching the chip
