"""One hot statement, prepared on its connection and sent without a health check first.

Django's PostgreSQL cursors bind parameters on the client (psycopg's ``ClientCursor``):
the statement is quoted in Python and PostgreSQL parses and plans it again on every call.
Django also checks a reused connection with ``SELECT 1`` before a request's first query
(``CONN_HEALTH_CHECKS``). On the checkout's single write both cost more than the write: the
backend spent 0.50 ms per insert unprepared, 0.30 ms prepared, and the health check is a
round trip of its own (ADR 0112).

:func:`execute_prepared` sends one statement through Django's own cursor wrapper (execute
wrappers, error translation, django-prometheus's counters) on a server-binding cursor that
prepares it: PostgreSQL plans it once per connection. It sends no ``SELECT 1``: a
connection found dead (PostgreSQL restarted, the socket closed) is replaced and the
statement sent once more. That second send is the caller's to make safe: the statement
must be one that cannot take effect twice (the checkout's is guarded by the idempotency
key's unique constraint, so a statement that did commit before the connection broke is
refused the second time, and the caller recognises its own row).
"""

from __future__ import annotations

from typing import Any

from django.db import InterfaceError, OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]  # not in the stubs
    ServerBindingCursor,
)
from django_prometheus.db.common import ExportingCursorWrapper

__all__ = ["execute_prepared"]


class _PreparingCursor(ServerBindingCursor):
    """Django's server-binding psycopg cursor; every statement is prepared (once per
    connection: psycopg keeps the prepared names per connection)."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        return super().execute(query, params, prepare=True, binary=kwargs.get("binary"))


_cursor_classes: dict[str, type] = {}


def _cursor_class(db: BaseDatabaseWrapper) -> type:
    # Counted by django-prometheus like the ORM's statements (its cursor_factory wrapper).
    if db.alias not in _cursor_classes:
        _cursor_classes[db.alias] = ExportingCursorWrapper(_PreparingCursor, db.alias, db.vendor)
    return _cursor_classes[db.alias]


def _execute(db: BaseDatabaseWrapper, sql: str, params: dict[str, Any]) -> None:
    # What ``db.cursor()`` does but its health check: the thread check, the debug cursor
    # of assertNumQueries and CaptureQueriesContext, the execute wrappers.
    db.ensure_connection()
    with db.wrap_database_errors:
        cursor = db._prepare_cursor(_cursor_class(db)(db.connection))  # type: ignore[attr-defined]
    with cursor:
        cursor.execute(sql, params)


def _connection_lost(db: BaseDatabaseWrapper) -> bool:
    # After an OperationalError or InterfaceError: gone, or unable to answer a SELECT 1.
    return db.connection is None or db.connection.closed or not db.is_usable()


def execute_prepared(db: BaseDatabaseWrapper, sql: str, params: dict[str, Any]) -> None:
    """Run ``sql`` prepared on ``db``'s connection (module docstring). Outside a
    transaction only a broken connection is retried, once, on a new one; inside one the
    error is the caller's, as with any statement."""
    try:
        _execute(db, sql, params)
    except (OperationalError, InterfaceError):
        # A refusal (a constraint, a syntax error) is an IntegrityError or ProgrammingError
        # and never caught here.
        if db.in_atomic_block or not _connection_lost(db):
            raise
        db.close()
        _execute(db, sql, params)
