"""The outbox: an accepted order reaches the fulfillment queue even if its process dies
right after commit, a returned (unroutable) message is not counted as published, and
several relays never publish one message twice."""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import pytest
from conftest import REPO, database_url_for_children, process_env, wait_until
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from kombu import Connection

from flashops.processes import free_port
from order_service.orders.cart import Shopper
from order_service.orders.models import Order, OutboxMessage
from order_service.orders.publisher import publisher
from order_service.orders.selectors import outbox_backlog
from order_service.orders.services import (
    order_checkout,
    outbox_message_publish,
    reservations_release_orphans,
)
from shared import messages
from shared.celery import service_queue

pytestmark = pytest.mark.django_db(transaction=True)


def pending_order(n: int) -> OutboxMessage:
    order = Order.objects.create(
        id=uuid.uuid4(), shopper_id=f"anon:relay-{n}", total=Decimal("1.00"), currency="EUR"
    )
    payload = messages.OrderAccepted(
        order_id=str(order.id),
        shopper_id=order.shopper_id,
        lines=(messages.OrderLine(sku="X", quantity=1, unit_price="1.00", currency="EUR"),),
        total="1.00",
        currency="EUR",
        accepted_at=timezone.now().isoformat(),
    ).to_dict()
    return OutboxMessage.objects.create(
        order=order,
        task_name=messages.PROCESS_ORDER_TASK,
        queue=messages.FULFILLMENT_QUEUE,
        payload=payload,
        # Past the grace a request has to publish its own message: the relay's now.
        created_at=timezone.now() - timedelta(seconds=settings.OUTBOX_RELAY_GRACE + 1),
    )


def test_process_killed_after_commit_before_publish_relay_delivers(
    sale, fulfillment_queue, manage_process
):
    a = sale.sku("A", stock=5)
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests/order/helpers/checkout_then_die.py"), a, "2", "k"],
        env=process_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    assert "committed; dying before publish" in proc.stdout

    # Committed and reserved, but never published.
    order = Order.objects.get(shopper_id="anon:killed-process")
    assert order.status == "accepted"
    assert sale.inventory.reservation(order.id) == {a: 2}
    assert OutboxMessage.objects.get(order=order).published_at is None
    assert fulfillment_queue.count() == 0
    assert outbox_backlog().pending == 1

    # The relay leaves a fresh message to its request for OUTBOX_RELAY_GRACE (10 s), then
    # publishes it.
    relay = manage_process("outbox_relay", "--interval", "0.5")
    wait_until(
        lambda: fulfillment_queue.count() == 1,
        timeout=settings.OUTBOX_RELAY_GRACE + 30,
        message=f"relay did not deliver:\n{relay.log()}",
    )
    relay.stop()
    assert "published 1" in relay.log()

    delivered = fulfillment_queue.drain()
    assert [m["payload"]["order_id"] for m in delivered] == [str(order.id)]
    assert delivered[0]["id"] == str(OutboxMessage.objects.get(order=order).id)
    assert OutboxMessage.objects.get(order=order).published_at is not None
    assert outbox_backlog().pending == 0


def test_process_killed_between_reservation_and_write_gets_its_units_back(sale):
    # Earlier tests leave reservations whose rows were rolled back: clear them first, so
    # that the counts below are exact.
    before: dict[str, float] = {}
    for _ in range(2):
        reservations_release_orphans(seen=before, min_age=0)
    a = sale.sku("A", stock=5, limit=2)
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests/order/helpers/checkout_then_die.py"),
            a,
            "2",
            "k",
            "after-reserve",
        ],
        env=process_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    assert sale.available(a) == 3
    assert len(sale.reservations()) == 1
    assert Order.objects.count() == 0
    # A live order's reservation beside it must survive the sweep.
    live = order_checkout(
        shopper=Shopper(shopper_id="anon:live"), items={a: 1}, idempotency_key="x", fingerprint="f"
    )

    seen: dict[str, float] = {}
    assert reservations_release_orphans(seen=seen, min_age=0) == 0  # first sighting only
    assert reservations_release_orphans(seen=seen, min_age=0) == 1
    assert sale.available(a) == 4
    assert sale.reservations() == [f"inv:res:{live.order_id}"]
    assert reservations_release_orphans(seen=seen, min_age=0) == 0
    assert seen == {}


def test_a_returned_message_is_not_marked_published(fulfillment_queue):
    first, second = pending_order(1), pending_order(2)
    assert outbox_message_publish(message=first) is True
    # An operator deletes the queue: the next publish has no route and comes back.
    with Connection(settings.CELERY_BROKER_URL) as conn:
        service_queue(messages.FULFILLMENT_QUEUE)(conn.default_channel).delete()
    assert outbox_message_publish(message=second) is False
    second.refresh_from_db()
    assert second.published_at is None
    assert second.attempts == 1
    assert "NO_ROUTE" in second.last_error

    # The relay's retry declares the queue again (fresh connection) and publishes it.
    OutboxMessage.objects.filter(id=second.id).update(next_attempt_at=timezone.now())
    call_command("outbox_relay", "--once")
    second.refresh_from_db()
    assert second.published_at is not None
    assert [m["payload"]["order_id"] for m in fulfillment_queue.drain()] == [str(second.order_id)]
    publisher.close()


def test_concurrent_relays_publish_each_message_exactly_once(fulfillment_queue, manage_process):
    ids = {str(pending_order(n).order_id) for n in range(300)}
    relays = [
        manage_process("outbox_relay", "--batch", "10", "--interval", "0.05", log_name=f"r{i}")
        for i in range(3)
    ]
    wait_until(lambda: outbox_backlog().pending == 0, timeout=90, message="relays too slow")
    for relay in relays:
        relay.stop()
    delivered = fulfillment_queue.drain()
    assert len(delivered) == 300
    assert {m["payload"]["order_id"] for m in delivered} == ids
    # Each relay took part (SKIP LOCKED shares the work instead of serialising it).
    published = [log_published(r.log()) for r in relays]
    assert sum(published) == 300
    assert sum(1 for n in published if n > 0) >= 2, published


def log_published(log: str) -> int:
    return sum(
        int(line.split("published ")[1].split(",")[0])
        for line in log.splitlines()
        if line.startswith("outbox relay: published ")
    )


class DatabaseLink:
    """The relay's road to the real PostgreSQL: a TCP forwarder on a port of its own. ``down()``
    stops listening and cuts every open connection, so to the relay the database is gone
    (connections refused, as when the server stops), while the machine's shared PostgreSQL,
    and this test's own connection to it, are left alone; ``up()`` brings it back."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.port = free_port()
        self.server: socket.socket | None = None
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()

    def url(self) -> str:
        parts = urlsplit(database_url_for_children())
        return urlunsplit(
            parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{self.port}")
        )

    def up(self) -> None:
        with self.lock:
            self.server = socket.create_server(("127.0.0.1", self.port))
            threading.Thread(target=self._accept, args=(self.server,), daemon=True).start()

    def down(self) -> None:
        with self.lock:
            if self.server is not None:
                self.server.close()
                self.server = None
            for sock in self.open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed by down()
            upstream = socket.create_connection(self.target)
            with self.lock:
                if self.server is not server:  # went down while this one was being made
                    client.close()
                    upstream.close()
                    return
                self.open.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        """Both ways until either side closes (or down() cuts them), then close both."""
        peer = {client: upstream, upstream: client}
        with contextlib.suppress(OSError):
            while True:
                readable, _, _ = select.select(list(peer), [], [])
                chunks = [(sock, sock.recv(65536)) for sock in readable]
                if not all(data for _, data in chunks):
                    break
                for sock, data in chunks:
                    peer[sock].sendall(data)
        with self.lock:
            for sock in peer:
                self.open.discard(sock)
                sock.close()


def test_the_relay_outlives_a_database_outage_and_publishes_once_it_is_back(
    manage_process, fulfillment_queue
):
    """A long-running relay that loses its database keeps retrying instead of exiting (an
    exit would stop every process of `make up`), and when the database returns it publishes
    what was waiting, once."""
    db = settings.DATABASES["default"]
    link = DatabaseLink(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    link.up()
    relay = manage_process("outbox_relay", "--interval", "0.05", ORDER_DATABASE_URL=link.url())
    try:
        before = pending_order(0)
        # Published and recorded as such (cut between the two, it would be sent again: at
        # least once, for the idempotent consumer to absorb, is the outbox's promise).
        wait_until(
            lambda: OutboxMessage.objects.filter(id=before.id, published_at__isnull=False).exists(),
            timeout=30,
            message=relay.log(),
        )
        assert fulfillment_queue.count() == 1

        link.down()
        during = pending_order(1)  # accepted while the relay cannot reach the database
        # Several sweeps in a row fail (backing off: 0.1, 0.2, 0.4, 0.8 s) and it stays up.
        wait_until(lambda: relay.log().count("retrying in") >= 4, timeout=30, message=relay.log())
        assert relay.alive(), relay.log()
        assert fulfillment_queue.count() == 1
        during.refresh_from_db()
        assert during.published_at is None

        link.up()
        wait_until(
            lambda: OutboxMessage.objects.filter(published_at__isnull=True).count() == 0,
            timeout=30,
            message=relay.log(),
        )
        time.sleep(1)  # several more sweeps: nothing is published again
        assert relay.alive(), relay.log()
        delivered = [m["payload"]["order_id"] for m in fulfillment_queue.drain()]
        assert delivered == [str(before.order_id), str(during.order_id)]
        assert OutboxMessage.objects.get(id=during.id).attempts == 1
    finally:
        relay.stop()
        link.down()
    assert relay.proc.returncode == 0, relay.log()
    assert log_published(relay.log()) == 2


def test_a_single_sweep_without_its_database_fails_and_says_why(manage_process):
    dead = f"postgres://orders:orders@127.0.0.1:{free_port()}/nowhere"
    once = manage_process("outbox_relay", "--once", ORDER_DATABASE_URL=dead)
    assert once.proc.wait(timeout=30) == 1
    assert "is the database up?" in once.log()
