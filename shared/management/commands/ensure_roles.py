"""Create or update the staff roles (Django groups) of settings.STAFF_ROLES (idempotent)."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from shared.roles import role_ensure_all


class Command(BaseCommand):
    help = "Make each staff role's group hold exactly the permissions in STAFF_ROLES."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            results = role_ensure_all(roles=getattr(settings, "STAFF_ROLES", {}))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for role in results:
            state = "created" if role.created else "up to date"
            self.stdout.write(f"role {role.name!r} {state}: {len(role.permissions)} permission(s)")
