"""Admin pages, behind login. One module per noun; each adds its routes to `bp` (from
`.blueprint`); a new area is one more name below (and a line in `nav.NAV`)."""

from . import (  # noqa: F401  (each module adds its routes to bp)
    admins,
    api_tokens,
    archive,
    audit_log,
    auth,
    branding,
    breaches,
    campaign_history,
    campaign_sending,
    campaigns,
    consent_texts,
    dashboard,
    embed,
    imports,
    language,
    media,
    nav,
    outbox,
    records,
    subscribers,
    topics,
    webhooks,
)
from .blueprint import bp

__all__ = ["bp"]
