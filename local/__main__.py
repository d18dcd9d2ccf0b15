"""`python -m local ...`: an alias of the `tasktrail` command (local/cli.py)."""

import sys

from local.cli import main

if __name__ == "__main__":
    sys.exit(main())
