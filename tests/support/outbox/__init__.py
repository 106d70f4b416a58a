"""The outbox's shared test suite (suite.py) and what it needs: a writer of outbox rows for
each service (writers.py) and a process that writes rows and dies (write_then_die.py)."""
