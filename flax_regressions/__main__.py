"""``python -m flax_regressions``: the flax-regressions command (commands.cli)."""

import sys

from flax_regressions.commands.cli import main

sys.exit(main())
