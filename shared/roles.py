"""Staff roles as Django groups, the same names in every service (ADR 0067).

Each service has its own user and group tables (one database each), so a role exists once
per service, with that service's permissions: ``settings.STAFF_ROLES`` maps a role name
to ``"app_label.codename"`` permissions. ``manage.py <service> ensure_roles`` (run by
``bin/platform setup`` and the containers' release jobs) makes each group hold exactly those
permissions: idempotent, and a permission dropped from the settings is taken away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission
from django.db import transaction


@dataclass(frozen=True)
class RoleResult:
    name: str
    created: bool
    permissions: tuple[str, ...]


def _permissions(codes: Sequence[str]) -> list[Permission]:
    wanted = {(app, codename) for app, _, codename in (c.partition(".") for c in codes)}
    found = {
        (p.content_type.app_label, p.codename): p
        for p in Permission.objects.select_related("content_type").filter(
            codename__in=[codename for _, codename in wanted]
        )
    }
    missing = sorted(f"{app}.{codename}" for app, codename in wanted - set(found))
    if missing:
        raise ValueError(f"unknown permission(s) in STAFF_ROLES: {', '.join(missing)}")
    return [found[key] for key in sorted(wanted)]


@transaction.atomic
def role_ensure_all(*, roles: Mapping[str, Sequence[str]]) -> list[RoleResult]:
    """Create or update each role's group so that it holds exactly its permissions."""
    results = []
    for name, codes in roles.items():
        permissions = _permissions(codes)
        group, created = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)
        results.append(RoleResult(name, created, tuple(sorted(codes))))
    return results
