"""aiohttp helpers shared by the simulator's admin, console and extension routes."""

from aiohttp import web


async def json_body(request, optional=False):
    """The request's JSON object (HTTP 400 otherwise); with *optional*, ``{}`` for no body."""
    if optional and not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON\n")
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object\n")
    return data


async def live(awaitable):
    """Await something sent to a device; a device that is not connected (the hub raises
    ``KeyError``) answers HTTP 409."""
    try:
        return await awaitable
    except KeyError as e:
        raise web.HTTPConflict(text=str(e) + "\n")
