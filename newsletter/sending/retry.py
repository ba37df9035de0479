"""The retry policy: how often and how long apart a deferred message is tried again.

One place for the sender (a 4xx reply or a lost connection) and for `bounces` (a soft
bounce reported after a 250): 5, 10, 20, 40, 80 minutes between attempts, then failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_ATTEMPTS = 6  # then a deferred message counts as failed
RETRY_BASE = timedelta(minutes=5)  # 5, 10, 20, 40, 80 minutes between attempts


def gave_up(attempts: int) -> bool:
    """True when a message tried `attempts` times is not tried again."""
    return attempts >= MAX_ATTEMPTS


def next_attempt_at(now: datetime, attempts: int) -> datetime:
    """When a message tried `attempts` times is tried again (doubling each time)."""
    return now + RETRY_BASE * (2 ** max(attempts - 1, 0))
