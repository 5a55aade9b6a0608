"""``python -m datagen TASK --n N --out FILE``."""

import sys

from datagen.cli import main

sys.exit(main())
