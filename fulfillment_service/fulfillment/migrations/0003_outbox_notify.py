"""Every insert into the outbox wakes the relay process when its transaction commits
(``NOTIFY fulfillment_outbox``; PostgreSQL delivers notifications only on commit and folds
identical ones of a transaction into one)."""

from django.db import migrations

SQL = """
CREATE FUNCTION fulfillment_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('fulfillment_outbox', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER outbox_notify
    AFTER INSERT ON fulfillment_outboxevent
    FOR EACH STATEMENT EXECUTE FUNCTION fulfillment_outbox_notify();
"""

REVERSE_SQL = """
DROP TRIGGER IF EXISTS outbox_notify ON fulfillment_outboxevent;
DROP FUNCTION IF EXISTS fulfillment_outbox_notify();
"""


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0002_ledger_triggers")]

    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
