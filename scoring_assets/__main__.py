"""``python -m scoring_assets`` is the ``scoring-assets`` command."""

import sys

from scoring_assets.cli import console_main

sys.exit(console_main())
