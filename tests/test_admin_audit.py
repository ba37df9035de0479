"""The audit log: every look at or change of personal data, never an address."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from newsletter import audit
from newsletter.addresses import address_hash
from newsletter.extensions import db
from newsletter.models import AuditEntry, RightsRequest, Subscriber, Suppression
from tests.helpers import ADMIN_EMAIL


def entries() -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def audit_dump() -> str:
    """Every audit row as text, to search for a leaked address."""
    return json.dumps(
        [[e.actor, e.action, e.target, e.detail] for e in entries()], ensure_ascii=False
    )


def test_record_keeps_who_what_when_and_target(app):
    entry = audit.record("cli", audit.SUBSCRIBER_VIEW, "pub-id-1", shown=3)
    db.session.commit()
    [stored] = entries()
    assert (stored.actor, stored.action, stored.target, stored.detail) == (
        "cli",
        "subscriber.view",
        "pub-id-1",
        {"shown": 3},
    )
    assert stored.occurred_at == entry.occurred_at


@pytest.mark.parametrize(
    ("target", "detail"),
    [
        ("ann@example.org", {}),
        ("", {"to": "Ann <ann@example.org>"}),
        ("", {"nested": {"list": ["x", "ann@example.org"]}}),
    ],
)
def test_record_refuses_an_email_address(app, target, detail):
    with pytest.raises(audit.AuditLeakError):
        audit.record("cli", audit.SUBSCRIBER_VIEW, target, **detail)


def test_viewing_a_subscriber_is_logged_by_public_id(admin_client, make_subscriber):
    person = make_subscriber("ann@example.org")
    page = admin_client.get(f"/admin/subscribers/{person.public_id}")
    assert page.status_code == 200
    assert "ann@example.org" in page.text
    [entry] = [e for e in entries() if e.action == "subscriber.view"]
    assert (entry.actor, entry.target) == (ADMIN_EMAIL, person.public_id)


def test_search_is_logged_without_the_search_text(admin_client, make_subscriber):
    make_subscriber("ann@example.org")
    page = admin_client.get("/admin/subscribers?q=ann%40exam")
    assert "ann@example.org" in page.text
    [entry] = [e for e in entries() if e.action == "subscriber.search"]
    assert entry.detail["searched"] is True
    assert "ann" not in audit_dump()


def test_export_downloads_json_and_is_logged(admin_client, make_subscriber):
    person = make_subscriber("ann@example.org")
    response = admin_client.post(f"/admin/subscribers/{person.public_id}/export")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.get_json()
    assert "ann@example.org" in json.dumps(data)
    assert [e.target for e in entries() if e.action == "subscriber.export"] == [person.public_id]
    request_row = db.session.scalar(select(RightsRequest))
    assert (request_row.kind, request_row.channel) == ("export", "admin")


def test_erase_asks_for_confirmation_first(admin_client, make_subscriber):
    person = make_subscriber("ann@example.org")
    page = admin_client.get(f"/admin/subscribers/{person.public_id}/erase")
    assert page.status_code == 200
    assert "Erase for good" in page.text
    unconfirmed = admin_client.post(f"/admin/subscribers/{person.public_id}/erase", data={})
    assert unconfirmed.status_code == 400
    assert "Tick the box to confirm the erasure." in unconfirmed.text
    db.session.expire_all()
    assert db.session.scalar(select(Subscriber)) is not None
    assert not [e for e in entries() if e.action == "subscriber.erase"]


def test_erase_removes_the_person_and_the_log_keeps_no_address(admin_client, make_subscriber):
    person = make_subscriber("ann@example.org")
    public_id = person.public_id
    digest = address_hash("ann@example.org")
    admin_client.get(f"/admin/subscribers/{public_id}")
    admin_client.post(f"/admin/subscribers/{public_id}/export")
    response = admin_client.post(f"/admin/subscribers/{public_id}/erase", data={"confirm": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(Subscriber)) is None
    assert db.session.scalar(select(Suppression.address_hash).limit(1)) == digest
    actions = [(e.action, e.target) for e in entries()]
    assert ("subscriber.erase", public_id) in actions
    assert "ann@example.org" not in audit_dump()
    # Nor the local part; the random public id may contain "ann" by chance (it did once).
    assert "ann" not in audit_dump().replace(public_id, "")
    gone = admin_client.get(f"/admin/subscribers/{public_id}")
    assert gone.status_code == 404
    assert "may have been erased" in gone.text


def test_audit_log_page_lists_entries_newest_first_and_pages(admin_client):
    for number in range(60):
        audit.record("cli", audit.SUBSCRIBER_VIEW, f"target-{number:02d}")
    db.session.commit()
    first = admin_client.get("/admin/audit")
    assert first.status_code == 200
    assert "target-59" in first.text
    assert "target-09" not in first.text
    assert "Page 1 of 2" in first.text
    second = admin_client.get("/admin/audit?page=2")
    assert "target-00" in second.text
    assert "target-59" not in second.text
    assert admin_client.get("/admin/audit?page=99").status_code == 200
    assert admin_client.get("/admin/audit?page=abc").status_code == 200


def test_api_token_changes_are_logged(admin_client):
    created = admin_client.post(
        "/admin/api-tokens", data={"name": "crm", "scopes": ["objections:read"]}
    )
    assert created.status_code == 200
    admin_client.post("/admin/api-tokens/crm/revoke")
    actions = audit_dump()
    assert '"api-token.create", "crm", {"scopes": ["objections:read"]}' in actions
    assert '"api-token.revoke", "crm"' in actions
