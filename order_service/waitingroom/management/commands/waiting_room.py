"""`manage.py order waiting_room list|create|open|pause|close|status|publish`: the waiting
rooms from a shell (developers, tests, benches; staff use the admin). docs/waiting-room.md.

    manage.py order waiting_room create mega-deal --sku SKU-000001 --sku SKU-000002 \\
        --title "Mega deal" --rate 50 --allowance 10 --opens-in 60 [--accounts-only] [--open]
    manage.py order waiting_room status mega-deal     # the status document (JSON)
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from order_service.orders.errors import OrderError
from order_service.waitingroom import selectors, services
from order_service.waitingroom.models import RoomState, WaitingRoom


class Command(BaseCommand):
    help = "List, create, open, pause, close a waiting room, or print its status."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="every room with its live state")
        sub.add_parser("publish", help="mirror every room to Redis again")
        create = sub.add_parser("create", help="create (or redefine) a room")
        create.add_argument("slug")
        create.add_argument("--sku", action="append", required=True, dest="skus")
        create.add_argument("--title", default="")
        create.add_argument("--rate", type=int, default=50, help="admissions per second")
        create.add_argument("--allowance", type=int, default=10, help="drop-out allowance %%")
        create.add_argument("--pass-ttl", type=int, default=600)
        create.add_argument("--opens-at", help="ISO 8601 date-time of the opening")
        create.add_argument("--opens-in", type=float, help="the opening in N seconds")
        create.add_argument("--accounts-only", action="store_true")
        create.add_argument("--open", action="store_true", help="open it at once")
        for name in ("open", "pause", "close", "status"):
            sub.add_parser(name).add_argument("slug")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, f"_{action}")(**options)
        except OrderError as exc:
            raise CommandError(f"{exc.code}: {exc.message} {exc.detail or ''}") from exc

    def _list(self, **_: Any) -> None:
        live = {doc["room"]: doc for doc in selectors.rooms_live()}
        for room in WaitingRoom.objects.all():
            doc = live.get(room.slug, {})
            self.stdout.write(
                f"{room.slug}\t{doc.get('state', 'not mirrored')}\tqueue "
                f"{doc.get('queue_length', '-')}\tadmitted {doc.get('admitted_through', '-')}"
                f"\tin flight {doc.get('in_flight', '-')}\tunits left "
                f"{doc.get('units_left', '-')}\t{','.join(room.skus)}"
            )

    def _publish(self, **_: Any) -> None:
        self.stdout.write(f"mirrored {services.rooms_publish()} room(s)")

    def _create(self, *, slug: str, skus: list[str], **o: Any) -> None:
        opens_at = None
        if o.get("opens_at"):
            opens_at = parse_datetime(o["opens_at"])
            if opens_at is None or opens_at.tzinfo is None:
                raise CommandError("--opens-at: an ISO 8601 date-time with a time zone")
        elif o.get("opens_in") is not None:
            opens_at = timezone.now() + timedelta(seconds=o["opens_in"])
        room = WaitingRoom.objects.filter(slug=slug).first() or WaitingRoom(slug=slug)
        room.title = o["title"] or room.title or slug
        room.skus = skus
        room.admission_rate = o["rate"]
        room.dropout_allowance_percent = o["allowance"]
        room.pass_ttl_seconds = o["pass_ttl"]
        room.opens_at = opens_at
        room.accounts_only = o["accounts_only"]
        if o["open"]:
            room.state = RoomState.OPEN
        services.room_save(room=room)
        self.stdout.write(f"{slug}: {room.state}, {len(room.skus)} sku(s)")

    def _open(self, *, slug: str, **_: Any) -> None:
        self.stdout.write(f"{services.room_open(slug=slug).slug}: open")

    def _pause(self, *, slug: str, **_: Any) -> None:
        self.stdout.write(f"{services.room_pause(slug=slug).slug}: paused")

    def _close(self, *, slug: str, **_: Any) -> None:
        self.stdout.write(f"{services.room_close(slug=slug).slug}: closed")

    def _status(self, *, slug: str, **_: Any) -> None:
        status = selectors.room_status(slug=slug)
        if status is None:
            raise CommandError(f"UNKNOWN_ROOM: {slug}")
        doc = selectors.status_document(slug=slug, status=status)
        self.stdout.write(json.dumps(doc, indent=2))
