"""``python -m bench.spike``: see bench/spike/run.py."""

import sys

from bench.spike.run import main

sys.exit(main())
