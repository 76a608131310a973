"""``python -m fashion_cluster``: the command line, as ``fashion-cluster``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
