"""``python -m producer``: the same as ``clickpipe producer``."""

import sys

from clickpipe.cli import main

sys.exit(main(["producer", *sys.argv[1:]]))
