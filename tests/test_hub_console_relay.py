"""The simulator's console relay given a malformed file chunk from a device: the transfer
records the error and the device's websocket stays up."""

import asyncio
import json

import aiohttp
import pytest


@pytest.fixture(scope="module")
def hub(plain_hub):
    return plain_hub


@pytest.mark.parametrize("data", ["%%%not base64%%%", 12345])
def test_bad_file_chunk_is_an_error_of_the_transfer(hub, data):
    ident = "relay-%s" % type(data).__name__
    url = "ws://127.0.0.1:%d/socket/websocket?vsn=2.0.0&identifier=%s" % (hub.ports["plain"],
                                                                          ident)

    async def session():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(url) as ws:
                await ws.send_str(json.dumps(["1", "1", "console", "phx_join", {}]))
                assert json.loads((await ws.receive(timeout=5)).data)[4]["status"] == "ok"
                for event, extra in (("file-data/start", {}),
                                     ("file-data", {"chunk": 0, "data": data}),
                                     ("file-data", {"chunk": 1, "data": "aGk="}),
                                     ("file-data/stop", {})):
                    await ws.send_str(json.dumps(["1", None, "console", event,
                                                  dict(extra, filename="f.bin")]))
                await ws.send_str(json.dumps([None, "9", "phoenix", "heartbeat", {}]))
                return json.loads((await ws.receive(timeout=5)).data)

    hb = asyncio.run(session())
    assert hb == [None, "9", "phoenix", "phx_reply", {"status": "ok", "response": {}}]
    f = hub.run(lambda: hub.hub.console.device(ident).file_summary())["f.bin"]
    assert f["complete"] and f["size"] == 2
    assert len(f["errors"]) == 1 and "chunk 0: data is not base64" in f["errors"][0]
