"""The only source of "now" in the codebase, so that time can be frozen or shifted.

Every module calls `utcnow()`; tests and `flask jobs run-due --as-of` move it with
`frozen()`. It always returns a timezone-aware UTC datetime.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

_frozen: datetime | None = None


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC (or the frozen time, when set)."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Read a naive datetime as UTC, convert an aware one to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@contextlib.contextmanager
def frozen(at: datetime) -> Iterator[datetime]:
    """Make `utcnow()` return `at` inside the block (what-if runs and tests)."""
    global _frozen
    previous, _frozen = _frozen, as_utc(at)
    try:
        yield _frozen
    finally:
        _frozen = previous
