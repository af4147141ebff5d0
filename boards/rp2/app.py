# An example application for app-only updates (boards/rp2/fwup.conf ships this file as
# /nhl/<slot>/app.py). main.py imports it from the active slot and runs ``main(link)`` next
# to the NervesHub link; ``client`` (optional) would override NervesHubLink callbacks.
import asyncio

VERSION = "0.1.0"


async def main(link):
    while True:
        await asyncio.sleep(60)
        print("app %s: link %s" % (VERSION, "connected" if link.connected() else "down"))
