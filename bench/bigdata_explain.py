"""EXPLAIN ANALYZE of the hot paths against the 100x databases (``bench/bigdata.py --explain``).

Each service runs in a subprocess of its own (its Django settings, its ``_bench100x``
database). Every scenario runs the service's real code (GraphQL view, admin changelists,
selectors, the relays' batch SELECT ... FOR UPDATE SKIP LOCKED, maintain's sweeps, checkout's
and the drain's SQL) inside a transaction that is rolled back (the drain's commits one
order), captures the SQL it sent, and runs ``EXPLAIN (ANALYZE, BUFFERS)`` on each SELECT
(plain ``EXPLAIN`` on a statement that writes). Printed per scenario: the statements, the
slowest one's execution time, and every sequential scan of a table over 10 000 rows (the
plans that grow with the data). Full plans of statements over 2 ms go to
``$TMPDIR/bigdata-explain-<service>.txt``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLOW_MS = 2.0
BIG_TABLE_ROWS = 10_000
# Scenarios that commit (the drain's order_process refuses to run inside a transaction):
# they add one order to the bench database, then their SQL is explained like the others'.
COMMITS = ("drain:",)


def explain_all(urls: dict[str, str]) -> int:
    worst = 0
    for service, url in urls.items():
        env = {
            **os.environ,
            "DJANGO_ENV": "test",
            "DJANGO_SETTINGS_MODULE": f"{service}_service.config.settings.test",
            f"{service.upper()}_DATABASE_URL": url,
            "PYTHONPATH": str(ROOT),
        }
        print(f"\n== {service} ({url.rsplit('/', 1)[-1]})", flush=True)
        result = subprocess.run(
            [sys.executable, __file__, service], env=env, cwd=ROOT, timeout=600, check=False
        )
        worst = max(worst, result.returncode)
    return worst


# --- inside the service's process ---------------------------------------------------------


def _plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def _explain(cursor, sql: str) -> tuple[float, list[str], str]:
    """Execution time, big sequential scans and the text plan. A statement that writes was
    already run by the scenario: it is planned, not run again (0 ms, its plan shown)."""
    if re.search(r"\b(INSERT|UPDATE|DELETE)\b", sql):
        cursor.execute("EXPLAIN " + sql)
        text = "\n".join(row[0] for row in cursor.fetchall())
        seq = [
            f"{m} (planned)"
            for m in re.findall(r"Seq Scan on (\w+)", text)
            if _rows(cursor, {"Relation Name": m}) >= BIG_TABLE_ROWS
        ]
        return 0.0, seq, text
    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
    plan = cursor.fetchone()[0]
    plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    seq = [
        f"{n['Relation Name']} ({int(n.get('Actual Rows', 0)) * int(n.get('Actual Loops', 1))}"
        f" rows out)"
        for n in _plan_nodes(plan["Plan"])
        if n["Node Type"] == "Seq Scan" and _rows(cursor, n) >= BIG_TABLE_ROWS
    ]
    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
    text = "\n".join(row[0] for row in cursor.fetchall())
    return float(plan["Execution Time"]), seq, text


_ROWS: dict[str, int] = {}


def _rows(cursor, node: dict) -> int:
    name = node["Relation Name"]
    if name not in _ROWS:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [name])
        row = cursor.fetchone()
        _ROWS[name] = int(row[0]) if row else 0
    return _ROWS[name]


def _scenarios(service: str):
    from django.contrib.auth import get_user_model
    from django.test import Client

    def admin_client() -> Client:
        # Through the login form: staff sessions have a cookie of their own (ADR 0065).
        get_user_model().objects.create_superuser("bench-explain", "b@example.com", "x")
        client = Client(HTTP_HOST="127.0.0.1")
        login = f"/admin/{service}/login/"
        response = client.post(login, {"username": "bench-explain", "password": "x"})
        if response.status_code != 302:
            raise RuntimeError(f"admin login: {response.status_code}")
        return client

    def get(client: Client, path: str) -> None:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")

    if service == "catalog":
        query = (ROOT / "catalog_service/graphql/queries/product_graph.graphql").read_text()

        def graph(variables: dict):
            def run() -> None:
                client = Client(HTTP_HOST="127.0.0.1")
                body = json.dumps({"query": query, "variables": variables})
                response = client.post("/graphql", body, content_type="application/json")
                data = response.json()
                if response.status_code != 200 or "errors" in data:
                    raise RuntimeError(f"graphql: {response.content[:300]!r}")

            return run

        yield "product graph, first page (20 x 5 reviews)", graph({"first": 20, "reviews": 5})
        yield (
            "product graph, one category",
            graph({"first": 20, "reviews": 5, "category": "category-7"}),
        )
        yield "product graph, on sale", graph({"first": 20, "reviews": 5, "onSale": True})
        for model in ("product", "review", "flashsale", "category"):
            yield (
                f"admin changelist {model}",
                lambda m=model: get(admin_client(), f"/admin/catalog/catalog/{m}/"),
            )
        yield (
            "admin review filtered by rating",
            lambda: get(admin_client(), "/admin/catalog/catalog/review/?rating=5"),
        )
    elif service == "order":
        from order_service.orders import selectors, services
        from order_service.orders.models import Order

        some = Order.objects.order_by("-created_at").values_list("id", flat=True)[500]

        def status_api() -> None:
            order = Order.objects.prefetch_related("lines").filter(id=some).first()
            assert order is not None and order.lines.all()

        from order_service.orders.cart import Shopper
        from shared.inventory import Inventory
        from shared.offers import Offer, publish_offers

        def checkout() -> None:
            from django.conf import settings

            inventory = Inventory.from_url(settings.INVENTORY_REDIS_URL)
            sku = "SKU-000042"
            publish_offers(
                inventory.client,
                [Offer(sku=sku, name="bench", price="10.00", currency="EUR", per_shopper_limit=0)],
            )
            inventory.set_available(sku=sku, available=1000)
            key = f"explain-{os.getpid()}"
            services.order_checkout(
                shopper=Shopper(shopper_id=key),
                items={sku: 1},
                idempotency_key=key,
                fingerprint="0" * 64,
            )

        yield "checkout (order_checkout: SQL of the accept path)", checkout
        yield "order status (GET /api/orders/<id>)", status_api
        yield (
            "idempotent replay lookup",
            lambda: selectors.idempotency_key_find(shopper_id="shopper-77", key="key-400077"),
        )
        yield "outbox relay batch (SKIP LOCKED)", lambda: services.outbox_relay_batch(limit=100)
        yield "outbox backlog gauge", selectors.outbox_backlog
        yield "oldest accepted order", selectors.order_oldest_accepted
        for model in ("order", "outboxmessage", "idempotencykey"):
            yield (
                f"admin changelist {model}",
                lambda m=model: get(admin_client(), f"/admin/order/orders/{m}/"),
            )
        yield (
            "admin orders filtered by status",
            lambda: get(admin_client(), "/admin/order/orders/order/?status__exact=accepted"),
        )
        yield (
            "admin outbox unpublished",
            lambda: get(
                admin_client(), "/admin/order/orders/outboxmessage/?published_at__isempty=1"
            ),
        )
    elif service == "fulfillment":
        from fulfillment_service.fulfillment import selectors, services
        from fulfillment_service.fulfillment.invariants import stock_invariant_check
        from fulfillment_service.fulfillment.models import ProcessedMessage
        from fulfillment_service.fulfillment.stock import inventory_client

        some = ProcessedMessage.objects.values_list("order_id", flat=True)[777]
        import uuid

        from shared import messages
        from shared.inventory import ReserveLine

        def drain_one() -> None:
            inventory = inventory_client()
            order_id = str(uuid.uuid4())
            inventory.set_available(sku="SKU-000042", available=1000)
            inventory.reserve(
                reservation_id=order_id,
                shopper_id="explain",
                lines=[ReserveLine(sku="SKU-000042", quantity=1)],
            )
            payload = messages.OrderAccepted(
                order_id=order_id,
                shopper_id="explain",
                lines=(
                    messages.OrderLine(
                        sku="SKU-000042", quantity=1, unit_price="10.00", currency="EUR"
                    ),
                ),
                total="10.00",
                currency="EUR",
                accepted_at="2026-11-25T12:00:00+00:00",
            ).to_dict()
            services.order_process(payload=payload, inventory=inventory)

        yield "drain: order_process (one OrderAccepted)", drain_one
        yield "order status (internal API)", lambda: selectors.order_status_get(order_id=some)
        yield "outbox relay (SKIP LOCKED)", lambda: services.outbox_publish(older_than=5)
        yield "outbox backlog gauge", selectors.outbox_backlog
        yield (
            "maintain: stock invariant sweep",
            lambda: stock_invariant_check(inventory=inventory_client(), repair=False),
        )
        yield "ledger totals", selectors.ledger_totals
        for model in (
            "payment",
            "ledgertransaction",
            "ledgerentry",
            "shipment",
            "processedmessage",
            "outboxevent",
            "stock",
        ):
            yield (
                f"admin changelist {model}",
                lambda m=model: get(admin_client(), f"/admin/fulfillment/fulfillment/{m}/"),
            )


def inside(service: str) -> int:
    import django

    django.setup()
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    report = Path(tempfile.gettempdir()) / f"bigdata-explain-{service}.txt"
    growing = 0
    with report.open("w") as out:
        for name, scenario in _scenarios(service):
            if name.startswith(COMMITS):  # must run outside a transaction: it commits
                try:
                    with CaptureQueriesContext(connection) as captured:
                        scenario()
                except Exception as exc:  # noqa: BLE001 - report and go on
                    print(f"  {name:<44} FAILED {type(exc).__name__}: {exc}")
                    continue
            with transaction.atomic():
                try:
                    if not name.startswith(COMMITS):
                        with CaptureQueriesContext(connection) as captured:
                            scenario()
                except Exception as exc:  # noqa: BLE001 - report and go on
                    print(f"  {name:<44} FAILED {type(exc).__name__}: {exc}")
                    transaction.set_rollback(True)
                    continue
                timings = []
                with connection.cursor() as cursor:
                    for q in captured.captured_queries:
                        sql = q["sql"]
                        head = sql.lstrip().split(None, 1)[0].upper()
                        if head not in {"SELECT", "WITH", "UPDATE", "DELETE"}:
                            continue
                        if "django_session" in sql or "auth_user" in sql:
                            continue
                        try:
                            with transaction.atomic():
                                ms, seq, text = _explain(cursor, sql)
                        except Exception as exc:  # noqa: BLE001 - report and go on
                            print(f"    cannot explain ({exc}): {sql[:120]}")
                            continue
                        timings.append((ms, sql, seq))
                        if ms >= SLOW_MS or seq:
                            out.write(f"### {service} / {name}: {ms:.2f} ms\n{sql}\n{text}\n\n")
                transaction.set_rollback(True)
            total = sum(t[0] for t in timings)
            slowest = max(timings, default=(0.0, "", []))
            seqs = sorted({s for t in timings for s in t[2]})
            growing += bool(seqs)
            print(
                f"  {name:<44} {len(timings):>2} stmts {total:8.2f} ms "
                f"(slowest {slowest[0]:7.2f} ms)"
                + (f"  SEQ SCAN: {', '.join(seqs)}" if seqs else ""),
                flush=True,
            )
    print(f"  plans of statements >= {SLOW_MS} ms or with a big seq scan: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(inside(sys.argv[1]))
