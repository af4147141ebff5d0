"""`nhl nerves-key --sim FILE` with a chip image it cannot load: exit 1 naming the file, no
traceback; `nhl device` refuses the same images (and a data_path it cannot create) as a
config error."""

import pytest
from nerves_hub_link.errors import ConfigError
from nhl import cli
from nhl_port.device import CPythonHAL

BAD = {"missing": None, "not-json": "{bad", "no-zones": "{}", "a-list": "[]"}


def _image(tmp_path, name):
    path = tmp_path / ("%s.json" % name)
    if BAD[name] is not None:
        path.write_text(BAD[name])
    return str(path)


@pytest.mark.parametrize("name", sorted(BAD))
def test_info_with_an_unloadable_sim_image(tmp_path, capsys, name):
    path = _image(tmp_path, name)
    rc = cli.main(["nerves-key", "--sim", path, "info"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "cannot load the simulated chip %s" % path in err


@pytest.mark.parametrize("name", sorted(BAD))
def test_device_hal_refuses_an_unloadable_sim_image(tmp_path, name):
    hal = CPythonHAL(str(tmp_path / "data"))
    with pytest.raises(ConfigError):
        hal.nerves_key({"sim": _image(tmp_path, name)})


def test_device_hal_with_an_uncreatable_data_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as e:
        CPythonHAL(str(blocker / "data"))
    assert "cannot create data_path %s" % (blocker / "data") in str(e.value)
