"""`manage.py fulfillment dead_letters list|replay [--task-id ID ...] [--all]`."""

import json

from django.core.management.base import BaseCommand, CommandError

from fulfillment_service.fulfillment.deadletters import (
    DEAD_QUEUE,
    dead_letter_list,
    dead_letter_replay,
)


class Command(BaseCommand):
    help = f"Inspect and replay dead letters of the fulfillment queue ({DEAD_QUEUE})."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "replay"])
        parser.add_argument("--task-id", action="append", dest="task_ids", default=[])
        parser.add_argument("--all", action="store_true", help="replay every dead letter")
        parser.add_argument("--limit", type=int, default=100)
        parser.add_argument("--json", action="store_true", dest="as_json", help="JSON lines")

    def handle(self, *args, action, task_ids, limit, as_json, **options):
        replay_all = options["all"]
        if action == "list":
            letters = dead_letter_list(limit=limit)
            for letter in letters:
                if as_json:
                    self.stdout.write(json.dumps(_as_dict(letter)))
                else:
                    self.stdout.write(
                        f"  {letter.task_id}  order {letter.order_id or '?'}  "
                        f"reason {letter.reason or '?'}  deaths {letter.deaths}"
                    )
            self.stdout.write(f"{len(letters)} dead letter(s) in {DEAD_QUEUE}")
            return
        if not task_ids and not replay_all:
            raise CommandError("say which: --task-id ID (repeatable) or --all")
        replayed = dead_letter_replay(task_ids=task_ids or None, limit=max(limit, 1000))
        for letter in replayed:
            self.stdout.write(f"  replayed {letter.task_id} (order {letter.order_id or '?'})")
        missing = set(task_ids) - {r.task_id for r in replayed}
        self.stdout.write(self.style.SUCCESS(f"{len(replayed)} dead letter(s) replayed"))
        if missing:
            raise CommandError(f"not found in {DEAD_QUEUE}: {', '.join(sorted(missing))}")


def _as_dict(letter) -> dict:
    return {
        "task_id": letter.task_id,
        "task": letter.task,
        "order_id": letter.order_id,
        "reason": letter.reason,
        "deaths": letter.deaths,
        "payload": letter.payload,
    }
