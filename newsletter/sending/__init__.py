"""The sending package: claims, recipients, building, batches, retry, transports.

`engine` (send_pending, run_worker) ties them together and, like `jobs`, commits; see
its docstring and docs/SENDING.md. The names other modules use are re-exported here,
loaded on first use: importing `newsletter.sending.retry` (as `bounces` does) then
does not import the engine, which imports `bounces` (no import cycle).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "send_pending": "engine",
    "run_worker": "engine",
    "DEFAULT_BATCH_SIZE": "engine",
    "DB_WRITE_TRIES": "engine",
    "IDLE_POLL_SECONDS": "engine",
    "claim_batch": "claims",
    "new_worker_id": "claims",
    "lease_for": "claims",
    "release_expired_leases": "claims",
    "requeue_due_deferred": "claims",
    "MAX_ATTEMPTS": "retry",
    "RETRY_BASE": "retry",
    "make_transport": "transports",
    "Outcome": "transports",
    "Transport": "transports",
    "OutboxTransport": "transports.outbox",
    "SmtpTransport": "transports.smtp",
    "SMTP_WINDOW": "transports.smtp",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
