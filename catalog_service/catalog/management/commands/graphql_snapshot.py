"""``manage.py catalog graphql_snapshot [--check]``: the committed schema snapshot.

Without options it rewrites catalog_service/schema.graphql from the code; with ``--check``
(CI, tox -e lint) it fails with a diff when the code's schema differs from the snapshot,
so every change to the public contract shows up in review.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

import catalog_service
from catalog_service.graphql.schema import schema

SNAPSHOT = Path(catalog_service.__file__).resolve().parent / "schema.graphql"


def schema_sdl() -> str:
    return str(schema).rstrip() + "\n"


class Command(BaseCommand):
    help = "Write (or with --check, compare) the GraphQL schema snapshot schema.graphql."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="fail if the snapshot is stale")

    def handle(self, *args, check, **options):
        current = schema_sdl()
        if not check:
            SNAPSHOT.write_text(current)
            self.stdout.write(self.style.SUCCESS(f"Wrote {SNAPSHOT}"))
            return
        committed = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
        if committed != current:
            diff = "".join(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    current.splitlines(keepends=True),
                    "schema.graphql (committed)",
                    "schema.graphql (from the code)",
                )
            )
            self.stdout.write(diff)
            raise CommandError(
                "the GraphQL schema changed; review the diff above, then run "
                "`python manage.py catalog graphql_snapshot` and commit schema.graphql"
            )
        self.stdout.write(self.style.SUCCESS("schema.graphql is up to date"))
