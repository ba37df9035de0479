"""The built-in outbox: mail kept instead of sent, while no SMTP server is configured."""

from __future__ import annotations

import email
import email.policy

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from ... import audit, listings
from ...addresses import address_hash
from ...extensions import db
from ...mailer import uses_outbox
from ...models import OutboxMessage
from .blueprint import bp


def _require_outbox() -> None:
    if not uses_outbox():
        abort(404, _("An SMTP server is configured: mail is sent, not kept in the outbox."))


@bp.get("/outbox")
def outbox():
    """The kept messages, newest first."""
    _require_outbox()
    page = listings.outbox_page(request.args.get("page", 1, type=int))
    audit.record(current_user, audit.OUTBOX_VIEW, "", page=page.number, shown=len(page.items))
    db.session.commit()
    return render_template("admin/outbox.html", page=page)


@bp.get("/outbox/<int:message_id>")
def outbox_message(message_id: int):
    """One message: headers, the text part, and the HTML part in a sandboxed frame."""
    _require_outbox()
    row = db.session.get(OutboxMessage, message_id) or abort(404, _("No such message."))
    message = email.message_from_bytes(row.raw, policy=email.policy.default)
    audit.record(current_user, audit.OUTBOX_VIEW, address_hash(row.recipient.lower()), id=row.id)
    db.session.commit()
    return render_template(
        "admin/outbox_message.html", row=row, headers=list(message.items()), **_parts(message)
    )


def _parts(message) -> dict:
    """The text and HTML bodies of a message (either may be missing)."""
    parts = {}
    for kind in ("plain", "html"):
        body = message.get_body(preferencelist=(kind,))
        parts[kind] = body.get_content() if body is not None else None
    return parts
