# The outbox table takes the shared outbox row's columns (shared/outbox, ADR 0091): a
# destination queue and a next attempt time (backoff), and the relay's index on it.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("fulfillment", "0003_ledger_balance_check_one_query"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="outboxevent",
            name="outbox_unpublished",
        ),
        migrations.AddField(
            model_name="outboxevent",
            name="next_attempt_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        # Rows written before: due since they were written.
        migrations.RunSQL(
            "UPDATE fulfillment_outboxevent SET next_attempt_at = created_at",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddField(
            model_name="outboxevent",
            name="queue",
            # Every event written before went to the order service's queue.
            field=models.CharField(default="order", max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="outboxevent",
            name="attempts",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="outboxevent",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="outboxevent",
            name="task_name",
            field=models.CharField(max_length=128),
        ),
        migrations.AddIndex(
            model_name="outboxevent",
            index=models.Index(
                condition=models.Q(("published_at__isnull", True)),
                fields=["next_attempt_at"],
                name="outbox_event_unpublished_due",
            ),
        ),
    ]
