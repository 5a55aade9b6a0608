"""``python -m sandbox run FILE.py``."""

import sys

from sandbox.cli import main

sys.exit(main())
