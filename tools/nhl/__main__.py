import sys

from nhl.cli import main

sys.exit(main())
