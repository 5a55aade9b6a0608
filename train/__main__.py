"""``python -m train COMMAND ...``: the same as ``rlvr COMMAND ...``."""

import sys

from train.cli import main

sys.exit(main())
