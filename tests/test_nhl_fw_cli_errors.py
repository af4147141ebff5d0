"""`nhl fw` given paths it cannot use: an error with a hint, not a traceback."""

from nhl import cli


def test_keygen_into_a_missing_directory(tmp_path, capsys):
    prefix = str(tmp_path / "no-such-dir" / "k")
    rc = cli.main(["fw", "keygen", "-o", prefix])
    err = capsys.readouterr().err
    assert rc == 1
    assert "can't write the key files %s" % prefix in err and "hint:" in err
