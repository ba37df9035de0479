"""The navigation bar of every admin page."""

from __future__ import annotations

from flask import request, url_for
from flask_babel import lazy_gettext as _l

from ...mailer import uses_outbox
from . import auth
from .blueprint import bp

# (label, endpoint, endpoint prefix that marks the item as the current section).
NAV = [
    (_l("Dashboard"), "admin.dashboard", "admin.dashboard"),
    (_l("Campaigns"), "admin.campaigns", "admin.campaign"),
    (_l("Subscribers"), "admin.subscribers", "admin.subscriber"),
    (_l("Import"), "admin.import_upload", "admin.import"),
    (_l("Topics"), "admin.topics", "admin.topic"),
    (_l("Consent texts"), "admin.consent_texts", "admin.consent_text"),
    (_l("Signup form"), "admin.embed", "admin.embed"),
    (_l("Media"), "admin.media_library", "admin.media"),
    (_l("Branding"), "admin.branding_page", "admin.branding"),
    (_l("API tokens"), "admin.api_tokens_page", "admin.api_token"),
    (_l("Webhooks"), "admin.webhooks_page", "admin.webhook"),
    (_l("Outbox"), "admin.outbox", "admin.outbox"),
    (_l("Audit log"), "admin.audit_log", "admin.audit_log"),
    (_l("Privacy records"), "admin.records_page", "admin.records"),
    (_l("Admins"), "admin.admins_page", "admin.admins"),
    (_l("Your account"), "admin.account", "admin.account"),
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
            {"label": str(label), "url": url_for(endpoint), "active": current.startswith(prefix)}
        )
    return {
        "admin_nav": items,
        "may_open": lambda name: name not in auth.OWNER_ENDPOINTS or auth.is_owner(),
    }
