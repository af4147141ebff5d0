# heapsize: 256K
from nerves_hub_link.errors import ArchiveError, FwupError, NervesHubError, ProtocolError
from support import raises


def test_error_family_and_hint():
    e = ArchiveError("bad entry", hint="re-download the archive")
    assert isinstance(e, FwupError) and isinstance(e, NervesHubError)
    assert str(e) == "bad entry (re-download the archive)"
    assert e.message == "bad entry"


def test_protocol_error_side():
    e = raises(ProtocolError, _raise_local)
    assert e.remote is False
    assert ProtocolError("x").remote is True


def _raise_local():
    raise ProtocolError("send() in state CLOSED", remote=False)
