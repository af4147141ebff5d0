# heapsize: 256K
# NervesKey pure parts: CRC, dates, serials, DER, OTP/config parsing, compressed certificates,
# all against the vectors of docs spec nerves-key.md and tests/fixtures/nerves-key/vectors.json.
import binascii

from atecc_double import load_vectors
from nerves_hub_link.nerves_key import certs, config_zone, der
from nerves_hub_link.nerves_key.crc import crc16, crc_bytes
from nerves_hub_link.nerves_key.errors import CertificateError, NotProvisionedError
from support import raises

H = binascii.unhexlify
V = load_vectors()
IMG = V["chip_image"]


def test_crc_vectors():
    table = [
        ("", "0000"), ("80", "0580"), ("01", "0383"), ("91", "3583"), ("01020304", "f085"),
        ("fffefd01", "2d0b"), ("67c6697351ff4aec29cdbaabf2fbe346", "81a4"),
        ("0411", "3343"), ("0400", "0340"), ("0702800000", "09ad"),
    ]
    for data, want in table:
        assert crc_bytes(H(data)) == H(want), data
    assert crc16(b"\x04\x0f") == 0x4223  # exec-error group 04 0F 23 42


def test_dates_vectors():
    v = certs.decode_dates(H("753e0e"))
    assert v.not_before() == (2014, 10, 15, 16, 0, 0)
    assert v.not_after() == (2028, 10, 15, 16, 0, 0)
    v = certs.decode_dates(H("d5ea5f"))
    assert (v.not_before(), v.expire_years) == ((2026, 11, 26, 18, 0, 0), 31)
    assert certs.decode_dates(H("d5ea41")).not_after() == (2027, 11, 26, 18, 0, 0)
    v = certs.decode_dates(H("961281"))
    assert (v.not_before(), v.expire_years) == ((2018, 12, 4, 20, 0, 0), 1)
    assert certs.encode_dates(2014, 10, 15, 16, 14) == H("753e0e")
    assert certs.decode_dates(certs.encode_dates(2020, 1, 2, 3, 0)).not_after() == \
        (9999, 12, 31, 23, 59, 59)


def test_dates_impossible():
    e = raises(CertificateError, certs.decode_dates, b"\x00\x00\x00")  # month 0
    assert "impossible" in str(e)


def test_serial_vectors():
    assert certs.cert_serial(bytes(9), bytes(3)) == H("55ec7bf0b50732b49f8228e07d243653")
    assert certs.cert_serial(bytes(64), bytes(3)) == H("5be2b3990b410ca4fb38d1f79019c401")


def test_key_id_and_sha1():
    signer = H(V["signer_public_key_raw"])
    assert certs.key_id(signer) == H("cad63ca7ad65ea07f2fc100d7f581942e37a37f7")
    assert certs._sha1_py(der.spki_p256(signer)) == certs.key_id(signer)
    assert certs._sha1_py(b"abc") == H("a9993e364706816aba3e25717850c26c9cd0d89d")


def test_der_integer_minimal():
    assert der.integer(b"\x00\x00\x7f") == b"\x02\x01\x7f"
    assert der.integer(b"\x00\x80") == b"\x02\x02\x00\x80"
    assert der.integer(b"\x80") == b"\x02\x02\x00\x80"
    assert der.integer(bytes(32)) == b"\x02\x01\x00"
    rs = b"\x00\x12" + bytes(30) + b"\xff" + bytes(31)
    assert der.ecdsa_signature(rs) == b"\x30\x44\x02\x1f\x12" + bytes(30) + \
        b"\x02\x21\x00\xff" + bytes(31)


def test_der_times():
    assert der.time(2049, 12, 31, 23, 59, 59) == b"\x17\x0d" + b"491231235959Z"
    assert der.time(2050, 1, 1, 0) == b"\x18\x0f" + b"20500101000000Z"


def test_device_cert_rebuild_exact():
    got = certs.device_cert_der(H(IMG["slots"]["10"]), H(V["device_sn"]), V["manufacturer_sn"],
                                H(V["device_public_key_raw"]), H(IMG["slots"]["11"])[:64])
    assert got == H(V["expected"]["device_cert_der"])
    assert der.pem(got).strip() == V["expected"]["device_cert_pem"].strip()


def test_signer_cert_rebuild_exact():
    got = certs.signer_cert_der(H(IMG["slots"]["12"]), H(IMG["slots"]["11"])[:64])
    assert got == H(V["expected"]["signer_cert_der"])
    assert der.pem(got).strip() == V["expected"]["signer_cert_pem"].strip()


def test_compressed_cert_wrong_template():
    comp = bytearray(H(IMG["slots"]["12"]))  # a signer cert is not a device cert
    e = raises(CertificateError, certs.device_cert_der, comp, H(V["device_sn"]), "x",
               bytes(64), bytes(64))
    assert "bytes 67..71" in str(e) and "\\x10\\xa0" in str(e)
    e = raises(CertificateError, certs.signer_cert_der, bytes(72), bytes(64))
    assert "empty" in str(e)
    e = raises(CertificateError, certs.signer_cert_der, comp[:40], bytes(64))
    assert "40 bytes" in str(e)


def test_otp_vectors():
    info = config_zone.parse_otp(H(IMG["otp_zone"]))
    assert (info.board_name, info.manufacturer_sn) == ("NervesKey", "AERWYGS6IKOQP3Q")
    raw = H("4e7276730000" "6d795f626f6172640000" "31323334353637383930313233343536") + bytes(32)
    assert config_zone.build_otp("my_board", "1234567890123456") == raw
    long_sn = config_zone.build_otp("my_board", "12345678901234567")
    assert long_sn[4:6] == b"\x00\x01"
    assert config_zone.parse_otp(long_sn).manufacturer_sn == "12345678901234567"
    e = raises(NotProvisionedError, config_zone.parse_otp, bytes(64))
    assert "Nrvs" in str(e)


def test_config_zone_fields():
    cfg = config_zone.ConfigZone(H(IMG["config_zone"]))
    assert cfg.serial_number == H(V["device_sn"])
    assert cfg.device_type == "ATECC608" and cfg.i2c_address == 0x60
    assert cfg.provisioned and cfg.provisioning_mode == "regular"
    assert cfg.lock_status() == {"config": True, "data": True, "slot0": True}
    assert cfg.is_secret(0) and not cfg.is_secret(10)
    assert config_zone.base32(cfg.serial_number) == V["manufacturer_sn"]
    raw = bytearray(cfg.raw)
    raw[86] = 0x55
    assert config_zone.ConfigZone(raw).provisioning_mode == "unprovisioned"
