"""Admin pages, behind login. One module per noun; each adds its routes to `bp` (from
`.blueprint`); a new area is one more name below (and a line in `nav.NAV`)."""

from . import (  # noqa: F401  (each module adds its routes to bp)
    api_tokens,
    audit_log,
    auth,
    breaches,
    campaigns,
    consent_texts,
    dashboard,
    embed,
    imports,
    language,
    nav,
    outbox,
    records,
    subscribers,
    topics,
)
from .blueprint import bp

__all__ = ["bp"]
