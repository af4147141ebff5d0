"""``python -m nerves_hub_link.fwup``: fwup-compatible command line (see ``cli``)."""

import sys

from nerves_hub_link.fwup.cli import main

sys.exit(main())
