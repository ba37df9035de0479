"""The navigation bar of every admin page."""

from __future__ import annotations

from flask import request, url_for

from ...mailer import uses_outbox
from . import auth
from .blueprint import bp

# (label, endpoint, endpoint prefix that marks the item as the current section).
NAV = [
    ("Dashboard", "admin.dashboard", "admin.dashboard"),
    ("Campaigns", "admin.campaigns", "admin.campaign"),
    ("Subscribers", "admin.subscribers", "admin.subscriber"),
    ("Import", "admin.import_upload", "admin.import"),
    ("Topics", "admin.topics", "admin.topic"),
    ("Consent texts", "admin.consent_texts", "admin.consent_text"),
    ("Signup form", "admin.embed", "admin.embed"),
    ("Media", "admin.media_library", "admin.media"),
    ("Branding", "admin.branding_page", "admin.branding"),
    ("API tokens", "admin.api_tokens_page", "admin.api_token"),
    ("Webhooks", "admin.webhooks_page", "admin.webhook"),
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
        if endpoint == "admin.outbox" and not uses_outbox():
            continue
        if endpoint in auth.OWNER_ENDPOINTS and not auth.is_owner():
            continue  # editors do not see what they may not open (the server refuses it too)
        items.append(
            {"label": label, "url": url_for(endpoint), "active": current.startswith(prefix)}
        )
    return {
        "admin_nav": items,
        "may_open": lambda name: name not in auth.OWNER_ENDPOINTS or auth.is_owner(),
    }
