"""`nhl fw` given paths it cannot use: an error with a hint, not a traceback."""

from nhl import cli


def test_keygen_into_a_missing_directory(tmp_path, capsys):
    prefix = str(tmp_path / "no-such-dir" / "k")
    rc = cli.main(["fw", "keygen", "-o", prefix])
    err = capsys.readouterr().err
    assert rc == 1
    assert "can't write the key files %s" % prefix in err and "hint:" in err


def test_a_bad_private_key_file_is_a_usage_error_like_a_bad_public_key(tmp_path, capsys):
    import os

    fw = os.path.join("tests", "fixtures", "fwup", "F01_raw_write_basic", "signed.fw")
    junk = tmp_path / "junk.priv"
    junk.write_text("not a key\n")
    conf = os.path.join("tests", "fixtures", "fwup", "F01_raw_write_basic", "fwup.conf")
    for argv in (["sign", "-i", fw, "-o", str(tmp_path / "o.fw"), "-s", str(junk)],
                 ["sign", "--detached", fw, "-s", str(junk)],
                 ["create", "-f", conf, "-o", str(tmp_path / "c.fw"), "-s", str(junk)]):
        rc = cli.main(["fw"] + argv)
        err = capsys.readouterr().err
        assert rc == 2, argv
        assert "is not a 64-byte key" in err
    rc = cli.main(["fw", "verify", fw, "-p", str(junk)])
    assert rc == 2 and "is not a 32-byte key" in capsys.readouterr().err
    assert not (tmp_path / "o.fw").exists() and not (tmp_path / "c.fw").exists()
