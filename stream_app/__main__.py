"""``python -m stream_app``: the same as ``clickpipe worker``."""

import sys

from clickpipe.cli import main

sys.exit(main(["worker", *sys.argv[1:]]))
