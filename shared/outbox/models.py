"""The outbox row, abstract: each service declares its own table (and its indexes) from it.

The columns are the same in every service, so the relay (:mod:`shared.outbox.relay`) works
on any of them. A concrete model adds its primary key (its string is the Celery task id,
the same on every re-publish, so a consumer or an operator reading Flower recognises a
re-published message) and what links the row to its domain (e.g. the order id).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxBase(models.Model):
    task_name = models.CharField(max_length=128)
    queue = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Not before this time: now when written, later after a failed attempt (backoff).
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        abstract = True
