"""The consent register, the suppression report and the breach log, through the admin
logged in with CSRF on (as people run it) and through `flask privacy`."""

from __future__ import annotations

import csv
import io
import re

import pytest
from flask import g
from sqlalchemy import delete, select, update

from newsletter import breaches, reports, subscriptions
from newsletter.addresses import address_hash
from newsletter.clock import frozen
from newsletter.extensions import db
from newsletter.models import (
    AuditEntry,
    Basis,
    BreachLogEntry,
    Channel,
    Subscriber,
    SubscriberStatus,
)
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, aware, confirm_path

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def token(page) -> str:
    return TOKEN.search(page.text).group(1)


def get(client, path: str):
    """GET a page to read its CSRF token. The test app keeps one app context for the
    whole test, so Flask-WTF's token cache in `g` would carry one client's token to the
    next; a real server has a fresh context per request, which this restores."""
    g.pop("csrf_token", None)
    return client.get(path)


@pytest.fixture
def admin(client, admin_user):
    """The test client, signed in through the login form."""
    page = get(client, "/admin/login")
    done = client.post(
        "/admin/login",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": token(page)},
    )
    assert done.status_code == 302
    return client


def sign_up_and_confirm(client, outbox, email: str, agent: str) -> None:
    """The public journey: the form, the mail, the confirm button (CSRF tokens from pages)."""
    form = get(client, "/subscribe")
    posted = client.post(
        "/subscribe",
        data={
            "email": email,
            "topics": ["newsletter"],
            "consent": "y",
            "consent_text_id": "1",
            "csrf_token": token(form),
        },
        headers={"User-Agent": agent},
    )
    assert posted.status_code == 200, posted.text
    path = confirm_path(outbox(email)[-1])
    page = get(client, path)
    data = {"csrf_token": token(page)} if TOKEN.search(page.text) else {}
    assert client.post(path, data=data, headers={"User-Agent": agent}).status_code == 200


def rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def last_audit(action: str) -> AuditEntry:
    db.session.expire_all()
    return db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc())
    ).first()


# --- consent register --------------------------------------------------------------------


def test_consent_register_holds_every_active_subscriber(app, admin, outbox, make_subscriber):
    sign_up_and_confirm(app.test_client(), outbox, "ann@example.org", "Firefox/140 (Ann)")
    sign_up_and_confirm(app.test_client(), outbox, "bob@example.org", "Safari/18 (Bob)")
    make_subscriber(  # evidence=False: a subscriber written before evidence was kept
        "carl@example.org",
        basis=Basis.EXISTING_CUSTOMER,
        purchased_at=aware(2026, 1, 5),
        evidence=False,
    )  # no consent event at all: still in the register, and it says so
    make_subscriber("pending@example.org", status=SubscriberStatus.PENDING)
    gone = make_subscriber("gone@example.org")
    subscriptions.erase(gone, "unsubscribed", Channel.ALL, subscriptions.Evidence("test"))
    db.session.commit()

    page = get(admin, "/admin/records")
    assert "Consent register (CSV, 3 active subscribers)" in page.text
    forged = admin.post("/admin/records/consent-register.csv")
    assert forged.status_code == 400  # no CSRF token: refused
    response = admin.post("/admin/records/consent-register.csv", data={"csrf_token": token(page)})
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    found = rows(response)
    assert {r["email"] for r in found} == {"ann@example.org", "bob@example.org", "carl@example.org"}
    ann = [r for r in found if r["email"] == "ann@example.org"]
    assert [r["event"] for r in ann] == ["signup", "confirm"]
    signup = ann[0]
    assert signup["consent_text_version"] == "1"
    assert len(signup["consent_text_sha256"]) == 64
    assert signup["ip"] == "127.0.0.1"
    assert signup["user_agent"] == "Firefox/140 (Ann)"
    assert signup["event_topics"] == "newsletter"
    assert signup["event_at"].startswith("20")
    assert "newsletter (consent, confirmed" in signup["lists"]
    [carl] = [r for r in found if r["email"] == "carl@example.org"]
    assert carl["event"] == "(no consent event recorded)"
    assert "newsletter (existing-customer" in carl["lists"]
    assert carl["purchased_at"].startswith("2026-01-05")
    entry = last_audit(reports.AUDIT_CONSENT_REGISTER)
    assert entry.actor == ADMIN_EMAIL
    assert entry.detail == {"subscribers": 3, "format": "csv"}
    assert "@" not in entry.target + str(entry.detail)


def test_consent_register_streams_a_large_list_in_batches(app, admin):
    db.session.add_all(
        Subscriber(email=f"p{n}@example.org", status=SubscriberStatus.ACTIVE)
        for n in range(reports.BATCH * 2 + 7)
    )
    db.session.commit()
    page = get(admin, "/admin/records")
    response = admin.post("/admin/records/consent-register.csv", data={"csrf_token": token(page)})
    emails = [r["email"] for r in rows(response)]
    assert len(emails) == len(set(emails)) == reports.BATCH * 2 + 7


def test_consent_register_on_the_command_line_is_audit_logged(runner, make_subscriber, tmp_path):
    make_subscriber("ann@example.org")
    target = tmp_path / "register.csv"
    result = runner.invoke(args=["privacy", "consent-register", "--output", str(target)])
    assert result.exit_code == 0, result.output
    with target.open(encoding="utf-8") as written:
        written_rows = list(csv.DictReader(written))
    assert [(r["email"], r["event"]) for r in written_rows] == [
        ("ann@example.org", "signup"),
        ("ann@example.org", "confirm"),
    ]
    entry = last_audit(reports.AUDIT_CONSENT_REGISTER)
    assert entry.actor == "cli"
    assert entry.detail["subscribers"] == 1


def test_consent_register_cells_never_run_as_spreadsheet_formulas(admin, make_subscriber):
    # evidence=False: the test writes the one signup event itself, with a hostile agent.
    person = make_subscriber("ann@example.org", evidence=False)
    subscriptions.record_event(
        person, "signup", subscriptions.Evidence("form", user_agent='=HYPERLINK("http://x")')
    )
    db.session.commit()
    page = get(admin, "/admin/records")
    response = admin.post("/admin/records/consent-register.csv", data={"csrf_token": token(page)})
    [row] = rows(response)
    assert row["user_agent"] == '\'=HYPERLINK("http://x")'


# --- suppression report ------------------------------------------------------------------


def test_suppression_report_holds_no_address(admin, runner, make_subscriber):
    people = {
        "ann@example.org": (aware(2026, 3, 2, 9), "unsubscribed"),
        "bob@example.org": (aware(2026, 3, 20, 17), "unsubscribed"),
        "carl@example.org": (aware(2026, 3, 21, 8), "complained"),
        "dora@example.org": (aware(2026, 4, 1, 10), "lapsed"),
    }
    for email, (when, reason) in people.items():
        person = make_subscriber(email)
        with frozen(when):
            channels = Channel.ALL if reason != "lapsed" else (Channel.EMAIL,)
            subscriptions.erase(person, reason, channels, subscriptions.Evidence("test"))
        db.session.commit()
    response = admin.get("/admin/records/suppression-report.csv")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "@" not in body
    for email in people:
        assert address_hash(email) not in body
    email_rows = {(r["month"], r["reason"]): r for r in rows(response) if r["channel"] == "email"}
    assert email_rows[("2026-03", "unsubscribed")]["count"] == "2"
    assert email_rows[("2026-03", "unsubscribed")]["first"].startswith("2026-03-02T09:00")
    assert email_rows[("2026-03", "unsubscribed")]["last"].startswith("2026-03-20T17:00")
    assert email_rows[("2026-03", "complained")]["count"] == "1"
    assert email_rows[("2026-04", "lapsed")]["count"] == "1"
    sms = [r for r in rows(response) if r["channel"] == "sms"]
    assert sum(int(r["count"]) for r in sms) == 3  # the lapse was email only
    entry = last_audit(reports.AUDIT_SUPPRESSION_REPORT)
    assert entry.actor == ADMIN_EMAIL
    page = get(admin, "/admin/records")
    assert "2026-03" in page.text
    assert "ann@example.org" not in page.text
    printed = runner.invoke(args=["privacy", "suppression-report", "--format", "json"])
    assert printed.exit_code == 0
    assert "@" not in printed.output
    assert '"reason": "complained"' in printed.output


# --- breach log --------------------------------------------------------------------------

ENTRY = {
    "occurred_at": "2026-05-01T22:00",
    "discovered_at": "2026-05-02T08:30",
    "nature": "A laptop with an export of the list was stolen from a car.",
    "data_categories": "email addresses and names of subscribers of the newsletter list",
    "people_affected": "1200",
    "consequences": "phishing mails to the people on the list",
    "measures": "disk encryption checked; passwords rotated; police report filed",
    "reasoning": "the disk was encrypted: unlikely to result in a risk, not notified",
}


def add_entry(admin, **changes):
    page = get(admin, "/admin/records/breaches" + changes.pop("query", ""))
    data = {**ENTRY, "csrf_token": token(page), **changes}
    hidden = re.search(r'name="corrects" type="hidden" value="([^"]*)"', page.text)
    if hidden and "corrects" not in changes:
        data["corrects"] = hidden.group(1)
    return admin.post("/admin/records/breaches", data=data)


def test_breach_log_is_append_only(admin):
    done = add_entry(admin)
    assert done.status_code == 302, done.text
    [entry] = breaches.entries()
    assert entry.recorded_by == ADMIN_EMAIL
    assert entry.people_affected == 1200
    assert entry.discovered_at == aware(2026, 5, 2, 8, 30)
    assert not entry.authority_notified
    # A correction is a new entry naming the first; the first stays as it was.
    corrected = add_entry(
        admin,
        query=f"?corrects={entry.id}",
        people_affected="1350",
        authority_notified="y",
        authority_notified_at="2026-05-03T10:00",
        reasoning="more people than thought: notified after all",
    )
    assert corrected.status_code == 302, corrected.text
    db.session.expire_all()
    first, second = sorted(breaches.entries(), key=lambda e: e.id)
    assert (first.people_affected, first.authority_notified) == (1200, False)
    assert second.corrects_id == first.id
    assert (second.people_affected, second.authority_notified) == (1350, True)
    assert second.nature == ENTRY["nature"]  # the form was filled with the original
    page = get(admin, "/admin/records/breaches")
    assert f'Corrected by <a href="#entry-{second.id}">#{second.id}</a>' in page.text
    # Nothing can change or delete an entry: not the ORM, not a bulk statement.
    first.nature = "nothing happened"
    with pytest.raises(breaches.AppendOnlyError):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(BreachLogEntry, first.id))
    with pytest.raises(breaches.AppendOnlyError):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(breaches.AppendOnlyError):
        db.session.execute(update(BreachLogEntry).values(nature="x"))
    with pytest.raises(breaches.AppendOnlyError):
        db.session.execute(delete(BreachLogEntry))
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(BreachLogEntry, first.id).nature == ENTRY["nature"]
    assert admin.post(f"/admin/records/breaches/{first.id}").status_code in (404, 405)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"discovered_at": ""}, "Give the date and time the breach was discovered."),
        ({"nature": "  "}, "Describe what happened"),
        ({"measures": ""}, "Describe the measures taken or proposed."),
        ({"occurred_at": "2026-05-03T00:00"}, "cannot be discovered before it happened"),
        ({"discovered_at": "2999-01-01T00:00"}, "date is in the future"),
        ({"people_affected": "-3"}, "cannot be negative"),
        ({"people_affected": "lots"}, "Not a valid integer value"),
        ({"data_categories": "ann@example.org and others"}, "Do not write email addresses"),
        ({"authority_notified_at": "2026-05-03T10:00"}, "but not that it was notified"),
        ({"query": "?corrects=99", "corrects": "99"}, "no breach log entry #99"),
    ],
)
def test_breach_log_refuses_bad_input_and_keeps_nothing(admin, changes, message):
    response = add_entry(admin, **changes)
    assert response.status_code == 400
    assert message in response.text
    assert ENTRY["measures"] in response.text or changes.get("measures") == ""  # text kept
    assert breaches.entries() == []


def test_breach_log_needs_the_csrf_token(admin):
    assert admin.post("/admin/records/breaches", data=ENTRY).status_code == 400
    assert breaches.entries() == []


def test_breach_log_export_and_the_72_hour_warning(admin, runner):
    with frozen(aware(2026, 5, 6, 12)):
        add_entry(admin, reasoning="")
        page = get(admin, "/admin/records/breaches")
        assert "Discovered over 72 hours ago and not notified" in page.text
        assert "without a notification to the authority" in get(admin, "/admin/records").text
    response = admin.get("/admin/records/breaches.csv")
    [row] = rows(response)
    assert row["nature"] == ENTRY["nature"]
    assert row["authority_notified"] == "no"
    assert row["people_affected"] == "1200"
    assert row["recorded_by"] == ADMIN_EMAIL
    assert last_audit(breaches.AUDIT_EXPORT).actor == ADMIN_EMAIL
    printed = runner.invoke(args=["privacy", "breach-log"])
    assert printed.exit_code == 0
    assert ENTRY["measures"] in printed.output


def test_privacy_records_are_behind_login(client):
    for path in (
        "/admin/records",
        "/admin/records/breaches",
        "/admin/records/breaches.csv",
        "/admin/records/suppression-report.csv",
        "/admin/records/record-of-processing.md",
    ):
        assert client.get(path).status_code == 302, path
    assert client.post("/admin/records/consent-register.csv").status_code in (302, 400)
