"""The ground every domain package stands on: the database handle and the API
object, error types, plugin loading, auth primitives, the clock, the audit log,
background jobs, idempotency and language choice.

Nothing here imports ``catalog``, ``orders``, ``warehouse`` or the web layer
(``shop.app``, the storefront, the admin, the CLI); ``lint-imports`` checks it.
"""
