"""Subscriber pages: signup, confirm, preferences, unsubscribe, privacy notice.

One module per area, each adding its routes to `bp` (from `.blueprint`); helpers they
share have public names in `.helpers`. A GET never changes anything (link scanners
prefetch links in mail); every change is a POST. Token problems get the same kind of page
whatever went wrong (`.errors`): 400 for a broken link, 404 for a subscriber who is gone,
410 for an expired link.
"""

from . import (  # noqa: F401  (each module adds its routes to bp)
    address,
    embed,
    errors,
    export,
    preferences,
    privacy,
    reconsent,
    signup,
    unsubscribe,
)
from .blueprint import bp

__all__ = ["bp"]
