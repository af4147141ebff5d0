"""``python -m nerves_hub_link.fwup``: fwup-compatible command line (see ``cli``).

An apply runs after ``cli`` is dropped: only ``cli_apply`` stays while data streams.
"""

import sys

from nerves_hub_link.fwup import cli

job = cli.main(defer_apply=True)
if not isinstance(job, int):
    cli = None
    from nerves_hub_link.fwup.cli_apply import run, unload

    unload("nerves_hub_link.fwup.cli")
    job = run(*job)
sys.exit(job)
