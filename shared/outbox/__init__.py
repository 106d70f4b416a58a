"""The transactional outbox, once for every service (ADRs 0091-0093).

A service writes the message it must send as a row of its own outbox table in the same
transaction as the change it announces; after the commit it wakes its relay (a Redis
``PUBLISH``), and the relay process publishes every unpublished row, at least once:

* :mod:`shared.outbox.models` - the abstract row (task, queue, payload, created, published,
  attempts, next attempt, last error); each service keeps a concrete table in its database;
* :mod:`shared.outbox.publisher` - one confirmed batch publisher: a batch goes out on one
  channel with ``mandatory``, and counts as published only once the broker confirmed every
  message of it; a returned (unroutable) or refused message is counted as failed;
* :mod:`shared.outbox.relay` - :class:`~shared.outbox.relay.Outbox`, one service's outbox:
  the ``SKIP LOCKED`` batch sweep with capped exponential backoff and jitter, the wake-up
  after commit and the relay's wait for it (with a short poll as the fallback);
* :mod:`shared.outbox.command` - the base of both services' ``outbox_relay`` command.

The request (or worker) never talks to RabbitMQ: a broker outage slows nothing down, and
the relay is the only publisher, so there is no race between two publishers of one row.
"""
