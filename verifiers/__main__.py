"""``python -m verifiers score --math FILE.jsonl``."""

import sys

from verifiers.cli import main

sys.exit(main())
