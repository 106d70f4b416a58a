#!/usr/bin/env bash
# Every benchmark, one after the other (never two at once: they share 2 cores), each
# bounded (< ~90 s). Output goes to the terminal and to var/bench/<name>.txt.
#   bench/run_all.sh            # after bin/bootstrap --test
# Uses databases and a Redis db / RabbitMQ vhost of its own, so a running platform and the
# test suite are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export CATALOG_DATABASE_URL=${BENCH_CATALOG_DATABASE_URL:-postgres://catalog:catalog@127.0.0.1:5432/catalog_bench}
export ORDER_DATABASE_URL=${BENCH_ORDER_DATABASE_URL:-postgres://orders:orders@127.0.0.1:5432/orders_bench}
export FULFILLMENT_DATABASE_URL=${BENCH_FULFILLMENT_DATABASE_URL:-postgres://fulfillment:fulfillment@127.0.0.1:5432/fulfillment_bench}
export TEST_REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/14}
export REDIS_URL=$TEST_REDIS_URL
export TEST_RABBITMQ_VHOST=${BENCH_RABBITMQ_VHOST:-flashsale_bench}
export TEST_CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/$TEST_RABBITMQ_VHOST
export CELERY_BROKER_URL=$TEST_CELERY_BROKER_URL
bin/bootstrap --test >/dev/null
.venv/bin/python - <<'PY'
import os, psycopg
from psycopg import sql
from urllib.parse import urlsplit
with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
    for var in ("CATALOG_DATABASE_URL", "ORDER_DATABASE_URL", "FULFILLMENT_DATABASE_URL"):
        url = urlsplit(os.environ[var])
        name = url.path.lstrip("/")
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname=%s", [name]).fetchone():
            admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(url.username)))
PY
mkdir -p var/bench
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
failed=()
for bench in seed_demo catalog_graph checkout fulfillment_drain edge_flood mesh_latency; do
  echo; echo "=== bench/$bench.py  ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1 /proc/loadavg))"
  .venv/bin/python -m "bench.$bench" 2>&1 | tee "var/bench/$bench.txt" || failed+=("$bench")
done
echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "benchmarks that failed: ${failed[*]} (their output is in var/bench/)"; exit 1
fi
echo "all benchmarks done; outputs in var/bench/"
