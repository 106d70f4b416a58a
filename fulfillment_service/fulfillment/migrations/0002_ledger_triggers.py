"""Ledger rules enforced by PostgreSQL itself, not only by Python:

* every ledger transaction balances at COMMIT: per currency the money entries sum to zero,
  per sku the unit entries sum to zero, and there are at least two entries (DEFERRABLE
  INITIALLY DEFERRED constraint triggers, so the entries of one transaction can be inserted
  one by one inside it);
* ledger rows are append-only: UPDATE and DELETE raise (TRUNCATE is left to the table
  owner: test teardown uses it; production roles get no TRUNCATE privilege).
"""

from django.db import migrations

SQL = """
CREATE FUNCTION fulfillment_ledger_assert_balanced(txn bigint) RETURNS void AS $$
DECLARE
    n integer;
    bad record;
BEGIN
    SELECT count(*) INTO n FROM fulfillment_ledgerentry WHERE transaction_id = txn;
    IF n < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entries; at least 2 are needed', txn, n
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT currency, sum(amount) AS total INTO bad FROM fulfillment_ledgerentry
        WHERE transaction_id = txn AND currency <> '' GROUP BY currency
        HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: % % left over',
            txn, bad.total, bad.currency USING ERRCODE = 'check_violation';
    END IF;
    SELECT sku, sum(quantity) AS total INTO bad FROM fulfillment_ledgerentry
        WHERE transaction_id = txn AND sku <> '' GROUP BY sku
        HAVING sum(quantity) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: % units of % left over',
            txn, bad.total, bad.sku USING ERRCODE = 'check_violation';
    END IF;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION fulfillment_ledger_entry_balanced() RETURNS trigger AS $$
BEGIN
    PERFORM fulfillment_ledger_assert_balanced(NEW.transaction_id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION fulfillment_ledger_transaction_balanced() RETURNS trigger AS $$
BEGIN
    PERFORM fulfillment_ledger_assert_balanced(NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON fulfillment_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION fulfillment_ledger_entry_balanced();

CREATE CONSTRAINT TRIGGER ledger_transaction_balanced
    AFTER INSERT ON fulfillment_ledgertransaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION fulfillment_ledger_transaction_balanced();

CREATE FUNCTION fulfillment_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed (post a reversal instead)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entry_append_only
    BEFORE UPDATE OR DELETE ON fulfillment_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION fulfillment_ledger_append_only();

CREATE TRIGGER ledger_transaction_append_only
    BEFORE UPDATE OR DELETE ON fulfillment_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION fulfillment_ledger_append_only();
"""

REVERSE_SQL = """
DROP TRIGGER IF EXISTS ledger_transaction_append_only ON fulfillment_ledgertransaction;
DROP TRIGGER IF EXISTS ledger_entry_append_only ON fulfillment_ledgerentry;
DROP FUNCTION IF EXISTS fulfillment_ledger_append_only();
DROP TRIGGER IF EXISTS ledger_transaction_balanced ON fulfillment_ledgertransaction;
DROP TRIGGER IF EXISTS ledger_entry_balanced ON fulfillment_ledgerentry;
DROP FUNCTION IF EXISTS fulfillment_ledger_transaction_balanced();
DROP FUNCTION IF EXISTS fulfillment_ledger_entry_balanced();
DROP FUNCTION IF EXISTS fulfillment_ledger_assert_balanced(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
