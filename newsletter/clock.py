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


# --- local time (issue 15): stored UTC, read and written in NEWSLETTER_TIMEZONE ----------


def zone():
    """The configured zone (NEWSLETTER_TIMEZONE, checked at start); Europe/Brussels
    outside an app."""
    from zoneinfo import ZoneInfo

    from flask import current_app, has_app_context

    name = current_app.config.get("TIMEZONE") if has_app_context() else None
    return ZoneInfo(name or "Europe/Brussels")


def local(value: datetime | None) -> datetime | None:
    """`value` (UTC; a naive one is read as UTC) in the configured zone, summer time
    included: the one conversion every date shown to a person goes through."""
    if value is None:
        return None
    return as_utc(value).astimezone(zone())


def from_local(value: datetime) -> datetime:
    """A time an admin entered: naive means the configured zone (DST handled by zoneinfo;
    a wall time skipped by the spring change is read with the offset before it), an aware
    one is taken as given. Returns UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone())
    return value.astimezone(UTC)


def parse_local(text: str) -> datetime:
    """An ISO date/time as an admin writes it (`2027-03-28T09:00`, `2027-03-28 09:00`,
    with or without an offset) → UTC. Raises ValueError for anything else."""
    return from_local(datetime.fromisoformat((text or "").strip()))


def format_local(value: datetime | None, language: str | None = None, kind: str = "datetime"):
    """A date for people: in the configured zone and in `language` (Babel; default: the
    current page's or mail's language). `kind` is "date" (long date), "datetime" (long
    date and hour) or "admin" (2027-03-28 09:00 CEST, the admin pages' form)."""
    if value is None:
        return ""
    moment = local(value)
    if kind == "admin":
        return moment.strftime("%Y-%m-%d %H:%M %Z")
    from babel.dates import format_date, format_time

    if language is None:
        from flask_babel import get_locale

        language = str(get_locale() or "en")
    if kind == "date":
        return format_date(moment, format="long", locale=language)
    hour = format_time(moment, format="short", locale=language, tzinfo=moment.tzinfo)
    return f"{format_date(moment, format='long', locale=language)}, {hour}"
