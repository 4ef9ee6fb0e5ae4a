"""``python -m parmap``: the same as the ``parmap`` command."""

import sys

from parmap.cli import main

sys.exit(main())
