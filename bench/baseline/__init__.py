"""The retailer's monolith, the spike's baseline: one Django project on one PostgreSQL.

It serves the platform's public API shape (the product query as an Apollo persisted query
over GET/POST at ``/graphql``; the cart and checkout under ``/api/``) the way the old shop
does: every request goes to the one database, checkout is synchronous (stock row locked,
payment called, ledger written, all inside the request), no cache, no queue, no rate
limiter. docs/spike.md and ADR 0086 say what is the same as the platform and what is not.
"""
