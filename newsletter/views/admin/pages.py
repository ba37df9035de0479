"""Admin route modules are imported here; the navigation bar is built here too."""

from __future__ import annotations

from flask import current_app, request, url_for

from ...mailer import uses_outbox
from . import bp

# (label, endpoint, endpoint prefix that marks the item as the current section).
# Items whose endpoint is not registered (an area not merged yet) are left out.
NAV = [
    ("Dashboard", "admin.dashboard", "admin.dashboard"),
    ("Campaigns", "admin.campaigns", "admin.campaign"),
    ("Subscribers", "admin.subscribers", "admin.subscriber"),
    ("Import", "admin.import_upload", "admin.import"),
    ("Topics", "admin.topics", "admin.topic"),
    ("Consent texts", "admin.consent_texts", "admin.consent_text"),
    ("API tokens", "admin.api_tokens_page", "admin.api_token"),
    ("Outbox", "admin.outbox", "admin.outbox"),
    ("Audit log", "admin.audit_log", "admin.audit_log"),
    ("Privacy records", "admin.records_page", "admin.records"),
    ("Admins", "admin.admins_page", "admin.admins"),
    ("Your account", "admin.account", "admin.account"),
]


@bp.context_processor
def admin_navigation() -> dict:
    """The navigation bar of every admin page."""
    items = []
    current = request.endpoint or ""
    for label, endpoint, prefix in NAV:
        if endpoint not in current_app.view_functions:
            continue
        if endpoint == "admin.outbox" and not uses_outbox():
            continue
        if endpoint in auth.OWNER_ENDPOINTS and not auth.is_owner():
            continue  # editors do not see what they may not open (the server refuses it too)
        items.append(
            {"label": label, "url": url_for(endpoint), "active": current.startswith(prefix)}
        )
    return {
        "admin_nav": items,
        "has_endpoint": lambda name: name in current_app.view_functions,
        "may_open": lambda name: name not in auth.OWNER_ENDPOINTS or auth.is_owner(),
    }


from . import (  # noqa: E402, F401
    audit_log,
    auth,
    campaigns,
    consent_texts,
    dashboard,
    outbox,
    subscribers,
    topics,
)
