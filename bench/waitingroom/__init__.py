"""Issue 13, measured: a crowd of simulated shoppers entering a sale through the waiting room.

    python -m bench.waitingroom [--shoppers 10000 ...]      (make waiting-room-bench)

run.py orchestrates (the platform from bench.spike.targets, the room by its staff command,
the audit from bench.spike.audit); crowd.py is the generator (asyncio + aiohttp, a cookie
jar and an address per shopper, ADR 0111); analysis.py turns the shoppers' records, the
stock samples and the edge's access log into the figures. docs/benchmarks.md ("Issue 13:
the waiting room") has the measured run.
"""
