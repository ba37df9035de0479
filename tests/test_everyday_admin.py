"""Issue 16, everyday admin: add a subscriber by hand, the list export and its re-import,
the welcome mail, admins managed in the UI (roles, invitations, deactivation, password),
and two-factor login. Through the test client with CSRF on, mail over real SMTP."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import g
from sqlalchemy import select

from newsletter import clock, people, subscriptions
from newsletter.extensions import db
from newsletter.models import (
    AdminUser,
    AuditEntry,
    ConsentEvent,
    ImportEvidence,
    Subscriber,
    SubscriberStatus,
)
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, aware, links_in, mail_html, mail_text

REASON = "asked at the shop counter on 2026-12-01"
SUBJECTS = {
    "nl": ("Bevestig uw inschrijving bij Demo Shop", "Welkom bij de nieuwsbrief van Demo Shop"),
    "fr": (
        "Confirmez votre inscription auprès de Demo Shop",
        "Bienvenue à la newsletter de Demo Shop",
    ),
    "en": (
        "Please confirm your subscription to Demo Shop",
        "Welcome to the newsletter of Demo Shop",
    ),
}
WELCOME_WORDS = {"nl": "Mijn voorkeuren", "fr": "Mes préférences", "en": "My preferences"}


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, **smtp_server.config(), "WTF_CSRF_ENABLED": True}


@pytest.fixture
def app(app):
    """Requests of a test share its app context, and so `g`: Flask-Login's user and
    Flask-WTF's token cached there would pass from one test client to another. Each
    request here starts without them, as in a real server."""

    @app.before_request
    def forget_the_previous_request():
        g.pop("_login_user", None)
        g.pop("csrf_token", None)

    return app


def csrf(page_text: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page_text).group(1)


def sign_in(client, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
    token = csrf(client.get("/admin/login").text)
    return client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )


def post_form(client, page: str, action: str | None = None, **data):
    """Post a form as a browser does: with the CSRF token of the page it is on."""
    token = csrf(client.get(page).text)
    return client.post(action or page, data={**data, "csrf_token": token})


def add_by_hand(client, email, locale="en", reason=REASON, topics=("newsletter",), **extra):
    return post_form(
        client,
        "/admin/subscribers/add",
        email=email,
        name=extra.pop("name", ""),
        locale=locale,
        topics=list(topics),
        reason=reason,
        **extra,
    )


def confirm(client, message) -> None:
    """Press "Confirm" on the page the confirmation mail links to."""
    path = next(urlsplit(u).path for u in links_in(mail_text(message)) if "/confirm/" in u)
    page = client.get(path)
    assert page.status_code == 200
    assert client.post(path, data={"csrf_token": csrf(page.text)}).status_code == 200


def mails_to(smtp_server, address):
    return [m.message for m in smtp_server.messages if address in m.rcpt_tos]


def make_admin(runner, email, role, password="correct battery horse 77"):
    result = runner.invoke(args=["admin", "create", email, "--role", role], input=password + "\n")
    assert result.exit_code == 0, result.output
    return password


# --- add one subscriber by hand ---------------------------------------------------------------


@pytest.mark.parametrize("locale", ["nl", "fr", "en"])
def test_added_by_hand_is_pending_until_confirmed_then_welcomed(
    client, admin_user, smtp_server, locale
):
    sign_in(client)
    address = f"counter-{locale}@example.be"
    response = add_by_hand(client, address, locale=locale, name="Ann")
    assert response.status_code == 302, response.text
    person = subscriptions.find_subscriber(address)
    assert person.status == SubscriberStatus.PENDING
    assert not any(s.confirmed_at for s in person.subscriptions)
    [confirmation] = mails_to(smtp_server, address)  # nothing but the confirmation mail
    assert confirmation["Subject"] == SUBJECTS[locale][0]
    assert confirmation["Auto-Submitted"] == "auto-generated"
    signup = db.session.scalar(select(ConsentEvent).where(ConsentEvent.subscriber_id == person.id))
    assert REASON in signup.source
    assert signup.detail["reason"] == REASON
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "subscriber.add-by-hand")
    )
    assert entry.detail["reason"] == REASON
    assert entry.target == person.public_id
    assert address not in json.dumps(entry.detail) + entry.target

    confirm(client, confirmation)
    db.session.expire_all()
    assert subscriptions.find_subscriber(address).status == SubscriberStatus.ACTIVE
    confirmation_mail, welcome = mails_to(smtp_server, address)
    assert welcome["Subject"] == SUBJECTS[locale][1]
    assert welcome["Auto-Submitted"] == "auto-generated"
    assert WELCOME_WORDS[locale] in mail_html(welcome)
    assert any("/preferences/" in link for link in links_in(mail_text(welcome)))
    assert f'lang="{locale}"' in mail_html(welcome)


def test_welcome_mail_can_be_switched_off(app, client, admin_user, smtp_server):
    app.config["WELCOME_MAIL"] = False
    sign_in(client)
    add_by_hand(client, "quiet@example.be")
    [confirmation] = mails_to(smtp_server, "quiet@example.be")
    confirm(client, confirmation)
    assert len(mails_to(smtp_server, "quiet@example.be")) == 1


def test_adding_by_hand_needs_a_reason(client, admin_user, smtp_server):
    sign_in(client)
    response = add_by_hand(client, "noreason@example.be", reason="")
    assert response.status_code == 400
    assert "Say how and when the person asked" in response.text
    leak = add_by_hand(client, "noreason@example.be", reason="she mailed from other@example.be")
    assert leak.status_code == 400
    assert "Leave addresses out" in leak.text
    assert subscriptions.find_subscriber("noreason@example.be") is None
    assert smtp_server.messages == []


def test_a_suppressed_address_cannot_be_added_by_hand(
    client, runner, admin_user, make_subscriber, smtp_server
):
    make_subscriber("gone@example.be")
    assert runner.invoke(args=["subscribers", "erase", "gone@example.be"]).exit_code == 0
    sign_in(client)
    response = add_by_hand(client, "gone@example.be")
    assert response.status_code == 400
    assert "suppression list" in response.text
    assert "sign up again themselves" in response.text
    assert subscriptions.find_subscriber("gone@example.be") is None
    assert smtp_server.messages == []


# --- list export and its re-import ------------------------------------------------------------

IMPORTED = (
    "email,name,topics,locale,consented_at,consent_text,consent_text_ref,consent_where,"
    "consent_how,consent_system\n"
    'zoe@example.be,Zoë Dubois,newsletter,fr,2026-06-01,"Oui, envoyez-moi la newsletter.",'
    ",shop counter Gent,unticked box on the paper form,paper forms (scanned) 2026\n"
)
EVIDENCE = ("consent_text", "consent_text_ref", "consent_where", "consent_how", "consent_system")


def _evidence_of(address):
    digest = db.session.scalar(
        select(ConsentEvent.subject_hash)
        .join(Subscriber, Subscriber.id == ConsentEvent.subscriber_id)
        .where(Subscriber.email == address)
    )
    row = db.session.scalar(
        select(ImportEvidence)
        .join(ConsentEvent)
        .where(ConsentEvent.subject_hash == digest)
        .order_by(ImportEvidence.id.desc())
    )
    return {k: getattr(row, k) for k in EVIDENCE} if row else None


def test_exported_list_imports_again_without_losing_consent_evidence(
    client, runner, admin_user, smtp_server, tmp_path
):
    source = tmp_path / "old.csv"
    source.write_text(IMPORTED, encoding="utf-8")
    with clock.frozen(aware(2026, 12, 1, 9)):
        imported = runner.invoke(
            args=[
                "subscribers",
                "import",
                str(source),
                "--basis",
                "consent",
                "--own-contacts",
                "--source",
                "paper forms of the Gent shop",
            ]
        )
    assert imported.exit_code == 0, imported.output
    original = _evidence_of("zoe@example.be")
    sign_in(client)
    add_by_hand(client, "jan@example.be", locale="nl", name="Jan")
    confirm(client, mails_to(smtp_server, "jan@example.be")[0])

    response = post_form(client, "/admin/subscribers/export-list", format="csv", topic="", basis="")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    exported = response.get_data(as_text=True)
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(exported))}
    assert set(rows) == {"zoe@example.be", "jan@example.be"}
    assert rows["jan@example.be"]["consent_how"].startswith("double opt-in")
    assert "IP 127.0.0.1" in rows["jan@example.be"]["consent_how"]
    assert REASON in rows["jan@example.be"]["consent_where"]
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "subscribers.export-list")
    )
    assert entry.actor == ADMIN_EMAIL
    assert entry.detail["rows"] == 2
    assert "@" not in json.dumps(entry.detail) + entry.target

    # A new installation: nobody left, nobody suppressed; the file goes in again.
    for person in db.session.scalars(select(Subscriber)).all():
        people.remove_person(person, keep_evidence=False, retire_id=False)
    db.session.commit()
    again = tmp_path / "export.csv"
    again.write_text(exported, encoding="utf-8")
    result = runner.invoke(
        args=[
            "subscribers",
            "import",
            str(again),
            "--basis",
            "consent",
            "--own-contacts",
            "--source",
            "our own list export of 2026-12-01",
        ]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["counts"]["active"] == 2, report
    assert _evidence_of("zoe@example.be") == original  # as imported the first time
    jan = _evidence_of("jan@example.be")
    assert jan["consent_how"] == rows["jan@example.be"]["consent_how"]
    assert jan["consent_text"] == rows["jan@example.be"]["consent_text"] != ""
    person = subscriptions.find_subscriber("jan@example.be")
    assert (person.name, person.locale, person.status) == ("Jan", "nl", "active")
    assert [s.topic.slug for s in person.subscriptions if s.confirmed_at] == ["newsletter"]

    # And the command prints the same columns, one topic, or JSON.
    cli = runner.invoke(args=["subscribers", "export-list", "--topic", "newsletter"])
    assert cli.exit_code == 0, cli.output
    cli_rows = {r["email"]: r for r in csv.DictReader(io.StringIO(cli.output))}
    assert cli_rows["zoe@example.be"]["consent_where"] == "shop counter Gent"
    as_json = runner.invoke(args=["subscribers", "export-list", "--format", "json"])
    assert {r["email"] for r in json.loads(as_json.output)} == set(rows)
    logged = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "subscribers.export-list")
    ).all()
    assert [e.detail["rows"] for e in logged] == [2, 2, 2]
    assert logged[1].actor == "cli"
    assert logged[1].detail["topic"] == "newsletter"


def test_export_list_of_an_unknown_topic_is_a_clear_error(runner):
    result = runner.invoke(args=["subscribers", "export-list", "--topic", "nope"])
    assert result.exit_code != 0
    assert "no topic with the slug 'nope'" in result.output


# --- roles ---------------------------------------------------------------------------------


def test_an_editor_cannot_export_erase_or_manage_admins(
    client, runner, admin_user, make_subscriber
):
    person = make_subscriber("ann@example.be")
    password = make_admin(runner, "editor@shop.example", "editor")
    assert sign_in(client, "editor@shop.example", password).status_code == 302
    token = csrf(client.get("/admin/subscribers/add").text)
    for path in (
        "/admin/subscribers/export-list",
        f"/admin/subscribers/{person.public_id}/erase",
        "/admin/admins",
        "/admin/api-tokens",
        "/admin/records",
    ):
        assert client.get(path).status_code == 403, path
    for path in (
        "/admin/subscribers/export-list",
        f"/admin/subscribers/{person.public_id}/export",
        f"/admin/subscribers/{person.public_id}/erase",
        "/admin/admins",
    ):
        response = client.post(path, data={"csrf_token": token, "confirm": "y", "email": "x@y.be"})
        assert response.status_code == 403, path
        assert "Only an owner may do this" in response.text
    assert subscriptions.find_subscriber("ann@example.be") is not None
    listing = client.get("/admin/subscribers").text
    assert "Export the list" not in listing
    assert ">Admins<" not in listing
    assert "Add a subscriber" in listing
    assert "Erase" not in client.get(f"/admin/subscribers/{person.public_id}").text
    assert client.get("/admin/subscribers/add").status_code == 200


def test_existing_admins_are_owners(admin_user):
    assert db.session.get(AdminUser, admin_user.id).role == "owner"


# --- invitations, deactivation, passwords ------------------------------------------------------


def test_invitation_sets_a_password_once_and_the_new_admin_signs_in(
    app, client, admin_user, smtp_server
):
    sign_in(client)
    response = post_form(client, "/admin/admins", email="new@shop.example", role="editor")
    assert response.status_code == 302, response.text
    [invitation] = mails_to(smtp_server, "new@shop.example")
    assert invitation["Auto-Submitted"] == "auto-generated"
    link = next(u for u in links_in(mail_text(invitation)) if "/admin/invitation/" in u)
    path = urlsplit(link).path
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "admin.invite"))
    assert "@" not in json.dumps(entry.detail) + entry.target

    visitor = app.test_client()
    page = visitor.get(path)
    assert page.status_code == 200
    weak = visitor.post(
        path, data={"password": "short", "repeat": "short", "csrf_token": csrf(page.text)}
    )
    assert weak.status_code == 400
    assert "too short" in weak.text
    new_password = "a brand new passphrase 9"
    done = visitor.post(
        path,
        data={"password": new_password, "repeat": new_password, "csrf_token": csrf(page.text)},
    )
    assert done.status_code == 302
    assert visitor.get(path).status_code == 404  # single use
    signed_in = sign_in(visitor, "new@shop.example", new_password)
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/admin/"
    assert visitor.get("/admin/admins").status_code == 403  # an editor


def test_an_invitation_expires(app, client, admin_user, smtp_server):
    sign_in(client)
    post_form(client, "/admin/admins", email="late@shop.example", role="owner")
    [invitation] = mails_to(smtp_server, "late@shop.example")
    path = urlsplit(next(u for u in links_in(mail_text(invitation)) if "/invitation/" in u)).path
    with clock.frozen(clock.utcnow() + timedelta(hours=73)):
        assert app.test_client().get(path).status_code == 410


def test_deactivation_not_of_yourself_nor_of_the_last_owner(app, client, runner, admin_user):
    password = make_admin(runner, "other@shop.example", "owner")
    other = db.session.scalar(select(AdminUser).where(AdminUser.email == "other@shop.example"))
    sign_in(client)
    mine = post_form(client, "/admin/admins", f"/admin/admins/{admin_user.id}/deactivate")
    assert mine.status_code == 302
    assert "cannot deactivate your own account" in client.get("/admin/admins").text
    done = post_form(client, "/admin/admins", f"/admin/admins/{other.id}/deactivate")
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(AdminUser, other.id).deactivated_at is not None
    refused = sign_in(app.test_client(), "other@shop.example", password)
    assert refused.status_code == 401
    # The one owner left cannot be deactivated by another (editor-turned-owner) either.
    from newsletter import admins

    with pytest.raises(admins.AdminError, match="last owner"):
        admins.deactivate(db.session.get(AdminUser, admin_user.id), None)


def test_change_own_password_needs_the_current_one(app, client, admin_user):
    sign_in(client)
    new = "my next long passphrase 3"
    wrong = post_form(
        client,
        "/admin/account",
        "/admin/account/password",
        current="not it at all",
        password=new,
        repeat=new,
    )
    assert wrong.status_code == 400
    assert "current password is wrong" in wrong.text
    done = post_form(
        client,
        "/admin/account",
        "/admin/account/password",
        current=ADMIN_PASSWORD,
        password=new,
        repeat=new,
    )
    assert done.status_code == 302
    assert sign_in(app.test_client()).status_code == 401
    assert sign_in(app.test_client(), ADMIN_EMAIL, new).status_code == 302


def test_flask_admin_create_with_a_role(runner):
    make_admin(runner, "ed@shop.example", "editor")
    assert (
        db.session.scalar(select(AdminUser.role).where(AdminUser.email == "ed@shop.example"))
        == "editor"
    )
    result = runner.invoke(
        args=["admin", "create", "x@shop.example", "--role", "boss"], input="x\n"
    )
    assert result.exit_code != 0


# --- two-factor login ------------------------------------------------------------------------


def _enrol(client, at) -> str:
    with clock.frozen(at):
        post_form(client, "/admin/account", "/admin/account/two-factor")
        page = client.get("/admin/account").text
        secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
        assert "otpauth://totp/" in page
        wrong = post_form(
            client, "/admin/account", "/admin/account/two-factor/confirm", code="000000"
        )
        assert wrong.status_code == 400
        code = pyotp.TOTP(secret).at(at)
        done = post_form(client, "/admin/account", "/admin/account/two-factor/confirm", code=code)
        assert done.status_code == 302
    return secret


def test_two_factor_enrol_then_login_asks_for_the_code(app, client, admin_user):
    start = aware(2026, 12, 2, 1, 0, 0)
    sign_in(client)
    secret = _enrol(client, start)
    stored = db.session.get(AdminUser, admin_user.id).totp_secret
    assert secret not in stored  # kept encrypted

    later = start + timedelta(minutes=2)
    with clock.frozen(later):
        browser = app.test_client()
        first = sign_in(browser)
        assert first.status_code == 302
        assert first.headers["Location"] == "/admin/login/code"
        assert browser.get("/admin/").status_code == 302  # not in yet
        wrong = post_form(browser, "/admin/login/code", code="123456")
        assert wrong.status_code == 401
        code = pyotp.TOTP(secret).at(later)
        right = post_form(browser, "/admin/login/code", code=code)
        assert right.status_code == 302
        assert right.headers["Location"] == "/admin/"
        assert browser.get("/admin/").status_code == 200
        # The same code does not work twice.
        replay = app.test_client()
        sign_in(replay)
        assert post_form(replay, "/admin/login/code", code=code).status_code == 401


def test_two_factor_code_attempts_are_rate_limited(app, client, admin_user):
    start = aware(2026, 12, 2, 1, 0, 0)
    sign_in(client)
    _enrol(client, start)
    with clock.frozen(start + timedelta(minutes=1)):
        browser = app.test_client()
        sign_in(browser)
        statuses = [
            post_form(browser, "/admin/login/code", code=f"00000{n}").status_code for n in range(6)
        ]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429


def test_reset_2fa_command_lets_the_owner_in_with_the_password(app, client, runner, admin_user):
    sign_in(client)
    _enrol(client, aware(2026, 12, 2, 1, 0, 0))
    result = runner.invoke(args=["admin", "reset-2fa", ADMIN_EMAIL])
    assert result.exit_code == 0, result.output
    signed_in = sign_in(app.test_client())
    assert signed_in.headers["Location"] == "/admin/"
    assert runner.invoke(args=["admin", "reset-2fa", "nobody@shop.example"]).exit_code != 0
