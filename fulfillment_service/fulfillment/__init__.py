"""Fulfillment domain: payments, stock (system of record), the double-entry ledger,
shipments, the processed-message marker and the status-event outbox (issue 5)."""
