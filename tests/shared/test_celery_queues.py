"""A worker on a fresh broker declares every platform queue before Celery's native delayed
delivery binds them (otherwise retries with a countdown would block the worker)."""

import os
import sys
import time
from pathlib import Path

from flashops.processes import ManagedProcess

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_on_a_fresh_broker_sets_up_delayed_delivery(private_rabbitmq, tmp_path):
    celery = str(Path(sys.executable).parent / "celery")
    worker = ManagedProcess(
        [
            celery,
            "-A",
            "order_service.config.celery_app",
            "worker",
            "-Q",
            "order",
            "-c",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ],
        env={
            "DJANGO_ENV": "test",
            "CELERY_BROKER_URL": private_rabbitmq.url,
            "PATH": os.environ["PATH"],
        },
        cwd=ROOT,
        log_path=tmp_path / "worker.log",
    ).start()
    try:
        deadline = time.monotonic() + 60
        while " ready." not in worker.log() and worker.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        log = worker.log()
    finally:
        worker.stop()
    assert " ready." in log, log[-3000:]
    assert "Failed to bind" not in log, log[-3000:]
    assert "delayed delivery will not be available" not in log.lower(), log[-3000:]
    queues = set(private_rabbitmq.ctl("list_queues", "-q", "name").split())
    assert {"order", "order.dead", "fulfillment", "fulfillment.dead"} <= queues
    assert any(name.startswith("celery_delayed_") for name in queues)
