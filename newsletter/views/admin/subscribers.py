"""Subscribers: search, detail with consent history, export (Art. 15), erase (Art. 17).

Pages are addressed by the opaque public id, never by the address (checklist B8), and
every look at a person's data is written to the audit log.
"""

from __future__ import annotations

import json

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ... import audit, listings, rights, subscriptions
from ...extensions import db
from ...models import Subscriber, SubscriberStatus
from . import bp
from .forms import ButtonForm, EraseForm


def _subscriber(public_id: str) -> Subscriber:
    return subscriptions.subscriber_by_public_id(public_id) or abort(
        404, "No such subscriber: the person may have been erased or opted out."
    )


@bp.get("/subscribers")
def subscribers():
    """Search by (part of an) address, filter by status; paged."""
    text = request.args.get("q", "")[:320]
    status = request.args.get("status", "")
    page = listings.search_subscribers(text, status, request.args.get("page", 1, type=int))
    # The search text itself is not logged: it is (part of) an address.
    audit.record(
        current_user,
        audit.SUBSCRIBER_SEARCH,
        "",
        searched=bool(text),
        status=status,
        shown=len(page.items),
    )
    db.session.commit()
    return render_template(
        "admin/subscribers.html", page=page, q=text, status=status, statuses=SubscriberStatus.ALL
    )


@bp.get("/subscribers/<public_id>")
def subscriber(public_id: str):
    """One person: lists, basis, the full consent history and the campaigns sent."""
    person = _subscriber(public_id)
    audit.record(current_user, audit.SUBSCRIBER_VIEW, person.public_id)
    db.session.commit()
    return render_template(
        "admin/subscriber.html",
        person=person,
        history=listings.consent_history(person),
        deliveries=listings.subscriber_deliveries(person),
        form=ButtonForm(),
    )


@bp.post("/subscribers/<public_id>/export")
def subscriber_export(public_id: str):
    """Everything held about the person, as a JSON download (GDPR Art. 15)."""
    person = _subscriber(public_id)
    if not ButtonForm().validate_on_submit():
        abort(400, "The form expired; go back, reload the page and try again.")
    data = rights.request_export(person, channel="admin")
    audit.record(current_user, audit.SUBSCRIBER_EXPORT, person.public_id)
    db.session.commit()
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="subscriber-{public_id}.json"'},
    )


@bp.route("/subscribers/<public_id>/erase", methods=["GET", "POST"])
def subscriber_erase(public_id: str):
    """Ask for confirmation, then erase exactly as an opt-out does (GDPR Art. 17)."""
    person = _subscriber(public_id)
    form = EraseForm()
    if form.validate_on_submit():
        rights.request_erasure(person, channel="admin")
        audit.record(current_user, audit.SUBSCRIBER_ERASE, public_id)
        db.session.commit()
        flash("The subscriber is erased; the address is on the suppression list.")
        return redirect(url_for("admin.subscribers"))
    status = 400 if form.errors else 200
    return render_template("admin/subscriber_erase.html", person=person, form=form), status
