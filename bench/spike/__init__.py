"""Mega-Deal Day, measured: the 100x spike against the platform and the monolith baseline.

    python -m bench.spike [--fault NAME] [--full] ...      (make spike)

run.py orchestrates; scenario.py drives wrk; targets.py starts the platform (private Redis
and RabbitMQ, its own databases) and the monolith (bench/baseline); sampler.py records the
backlog once a second; analysis.py turns the edge's access log into figures; plots.py draws
them. audit.py and faults.py (the fault options and the end-of-run audit) follow the
interface in the lead's INTERFACES note. docs/spike.md describes the whole.
"""
