"""``python -m clickpipe``."""

import sys

from clickpipe.cli import main

sys.exit(main())
