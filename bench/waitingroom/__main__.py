"""``python -m bench.waitingroom``: see bench/waitingroom/run.py."""

import sys

from bench.waitingroom.run import main

sys.exit(main())
