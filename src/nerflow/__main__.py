"""``python -m nerflow``: the ``nerflow`` command line."""

import sys

from nerflow.cli import main

sys.exit(main())
