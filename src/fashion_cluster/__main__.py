"""``python -m fashion_cluster``: the command line, as ``fashion-cluster``."""

import sys

from .cli import main

sys.exit(main())
