"""`python -m app`: the same as the `needlepoint` command."""

import sys

from app.commands.cli import main

sys.exit(main())
