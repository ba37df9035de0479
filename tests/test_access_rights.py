"""Erasure and access (issue 13, problem 6): every copy of the address goes, the export
holds everything, a former subscriber is answered from the hash, rectification, and
"download my data" only through a link mailed to the address.

The SMTP tests talk to a real aiosmtpd server on loopback that quotes the recipient in
its refusals, as Postfix does ("550 5.1.1 <addr>: Recipient address rejected").
The page tests run with CSRF on and the default configuration, as people run it.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from flask import g
from sqlalchemy import select

from newsletter import campaigns, compliance, links, rights, sending, subscriptions
from newsletter.addresses import address_hash
from newsletter.clock import frozen, utcnow
from newsletter.extensions import db
from newsletter.models import (
    AddressChange,
    BounceEvent,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    RightsRequest,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tests.helpers import (
    confirm_path,
    free_port,
    links_in,
    mail_html,
    mail_text,
    shown_consent_text_id,
    signup,
)
from tests.smtp_sink import SmtpSink, _Handler
from tests.timetravel import rows_mentioning, sqlite_files_mentioning

ADDRESS = "jan.peeters@example.be"
LANGUAGES = ("nl", "fr", "en")


# --- a server that quotes the recipient --------------------------------------------------


class _EchoHandler(_Handler):
    """`fail_next` replies may hold "{rcpt}" (the address as given), "{RCPT}" (upper
    case) or "{local}"; "rcpt:" before a reply refuses at RCPT instead of after DATA."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            reply = self.fail_next[0] if self.fail_next else ""
            if reply.startswith("rcpt:"):
                self.fail_next.pop(0)
                return _quote(reply.removeprefix("rcpt:"), address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.fail_next:
                self.fail_next[0] = _quote(self.fail_next[0], envelope.rcpt_tos[0])
        return await super().handle_DATA(server, session, envelope)


def _quote(reply: str, address: str) -> str:
    local = address.split("@")[0]
    return (
        reply.replace("{rcpt}", address)
        .replace("{RCPT}", address.upper())
        .replace("{local}", local)
    )


class EchoSink(SmtpSink):
    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.handler = _EchoHandler()
        self.controller = Controller(self.handler, hostname=host, port=port)


@pytest.fixture
def echo_server():
    sink = EchoSink(port=free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp_app(app, echo_server):
    app.config.update(echo_server.config())
    return app


def _send(make_campaign) -> int:
    campaign = make_campaign(subject="Lentenieuws")
    campaigns.start_sending(campaign)
    db.session.commit()
    sending.send_pending("test-worker")
    db.session.expire_all()
    return campaign.id


def _file_mentions(app, address: str) -> list[str]:
    """The SQLite file and WAL mentioning the address in any case (empty on PostgreSQL),
    plus any table row that does."""
    db.session.remove()
    found = []
    for spelling in {address, address.upper(), address.lower()}:
        found += sqlite_files_mentioning(app, spelling) + rows_mentioning(spelling)
    return found


# --- the rule functions -------------------------------------------------------------------


def test_redact_address():
    address = "jan.peeters+news@bücher.example"
    quoted = [
        "550 5.1.1 <Jan.Peeters+News@BÜCHER.example>: Recipient address rejected",
        "550 5.1.1 <jan.peeters+news@xn--bcher-kva.example>: user unknown",
        "451 4.2.0 mailbox jan.peeters+news is over quota",
        "rcpt=jan.peeters%2Bnews%40b%C3%BCcher.example",
        "=?utf-8?q?jan.peeters+news=40b=C3=BCcher.example?= to=jan.peeters+news=40bücher.example",
        "forwarded to jp@other.example",  # another address of the person
        "ｊａｎ．ｐｅｅｔｅｒｓ＋ｎｅｗｓ＠bücher.example",  # full-width
    ]
    for text in quoted:
        cleaned = compliance.redact_address(text, address)
        assert "jan.peeters" not in cleaned.lower(), cleaned
        assert "@" not in cleaned.replace(compliance.REDACTED, ""), cleaned
        assert compliance.REDACTED in cleaned
    # The reply's code and the server's words stay: that is what the admin needs.
    assert compliance.redact_address("550 5.1.1 <a@x.be>: no such user", "a@x.be") == (
        f"550 5.1.1 <{compliance.REDACTED}>: no such user"
    )
    # A very short local part is not blanked as a word ("a" in "a spam policy").
    assert compliance.redact_address("550 5.7.1 a spam policy", "a@x.be") == (
        "550 5.7.1 a spam policy"
    )
    assert compliance.redact_address(None, address) is None


def test_access_export_complete(make_subscriber):
    ann = make_subscriber("ann@example.org")
    assert compliance.access_export_complete(rights.export_subject(ann)) == []
    assert compliance.access_export_complete({"email": "x"}) == [
        s for s in compliance.ACCESS_EXPORT_SECTIONS if s != "email"
    ]
    former = rights.export_former("nobody@example.org")
    assert compliance.access_export_complete(former, former=True) == []


def test_access_link_mail_allowed(app, make_subscriber):
    digest = address_hash("ann@example.org")
    now = utcnow()
    for hours_ago in (30, 2, 1):  # one is older than a day
        db.session.add(
            RightsRequest(
                kind="export",
                channel="mail",
                subject_hash=digest,
                requested_at=now - timedelta(hours=hours_ago),
            )
        )
    db.session.add(RightsRequest(kind="export", channel="cli", subject_hash=digest))
    db.session.flush()
    assert compliance.access_link_mail_allowed(digest, now, per_day=3)
    assert not compliance.access_link_mail_allowed(digest, now, per_day=2)
    assert compliance.access_link_mail_allowed(address_hash("bob@example.org"), now, 1)


def test_rectification_applies_at_once():
    assert compliance.rectification_applies_at_once("name")
    assert compliance.rectification_applies_at_once("locale")
    assert not compliance.rectification_applies_at_once("email")


# --- SMTP replies are stored without the address; erasure removes every copy -----------


@pytest.mark.parametrize(
    "reply",
    [
        "rcpt:550 5.1.1 <{RCPT}>: Recipient address rejected: User unknown",
        "550 5.1.1 <{rcpt}>: mailbox {local} unknown",  # after DATA
    ],
)
def test_bounce_quoting_the_address_leaves_no_copy_after_erasure(
    smtp_app, echo_server, make_subscriber, make_campaign, reply
):
    make_subscriber(ADDRESS)
    make_subscriber("bob@example.be")
    echo_server.fail_next.append(reply)
    _send(make_campaign)
    # The 550 is a hard bounce: the person is erased (BOUNCE_HARD_LIMIT 1).
    assert subscriptions.find_subscriber(ADDRESS) is None
    [failed] = db.session.scalars(
        select(Delivery).where(Delivery.status == DeliveryStatus.FAILED)
    ).all()
    assert failed.last_error.startswith("550 ")
    assert compliance.REDACTED in failed.last_error
    assert db.session.scalar(select(BounceEvent.status)) == "5.1.1"
    assert _file_mentions(smtp_app, ADDRESS) == []
    assert _file_mentions(smtp_app, "jan.peeters") == []


def test_deferral_quoting_the_address_leaves_no_copy_after_erasure(
    smtp_app, echo_server, make_subscriber, make_campaign, client
):
    person = make_subscriber(ADDRESS)
    public_id = person.public_id
    echo_server.fail_next.append("451 4.3.0 <{rcpt}>: greylisted, try again later")
    _send(make_campaign)
    delivery = db.session.scalar(select(Delivery))
    assert delivery.status == DeliveryStatus.DEFERRED
    assert delivery.last_error == f"451 4.3.0 <{compliance.REDACTED}>: greylisted, try again later"
    # The person opts out while the message waits for its retry.
    response = client.post(urlsplit(links.unsubscribe_url(public_id)).path)
    assert response.status_code == 200
    assert _file_mentions(smtp_app, ADDRESS) == []


def test_erasure_scrubs_replies_stored_before_redaction(app, make_subscriber, make_campaign):
    """Rows written by an older version may quote the address: erasure cleans them."""
    person = make_subscriber(ADDRESS)
    campaign = make_campaign()
    db.session.add(
        Delivery(
            campaign_id=campaign.id,
            subscriber_id=person.id,
            status=DeliveryStatus.FAILED,
            last_error=f"550 5.1.1 <{ADDRESS.upper()}>: unknown",
        )
    )
    db.session.commit()
    rights.request_erasure(person, channel="cli")
    db.session.commit()
    assert db.session.scalar(select(Delivery.last_error)) == (
        f"550 5.1.1 <{compliance.REDACTED}>: unknown"
    )
    assert _file_mentions(app, ADDRESS) == []


def test_a_refused_system_mail_is_logged_without_the_address(smtp_app, echo_server, client, caplog):
    echo_server.fail_next.append("rcpt:550 5.1.1 <{rcpt}>: user unknown")
    signup(client, ADDRESS)
    assert "user unknown" in caplog.text
    assert ADDRESS not in caplog.text.lower()


# --- the Art. 15 export holds everything kept ----------------------------------------


def test_export_holds_smtp_replies_outbox_copies_and_bounce_events(
    app, client, outbox, make_campaign, runner
):
    signup(client, ADDRESS)
    client.post(confirm_path(outbox(ADDRESS)[-1]))
    person = subscriptions.find_subscriber(ADDRESS)
    campaign = make_campaign()
    delivery = Delivery(
        campaign_id=campaign.id,
        subscriber_id=person.id,
        status=DeliveryStatus.DEFERRED,
        attempts=1,
        last_error="451 4.3.0 greylisted",
    )
    db.session.add(delivery)
    db.session.flush()
    db.session.add(
        BounceEvent(
            digest="d" * 64,
            delivery_id=delivery.id,
            campaign_id=campaign.id,
            kind="soft",
            status="4.2.2",
            source="imap",
        )
    )
    subscriptions.suppress(address_hash(ADDRESS), "objected", ["sms"])
    db.session.commit()
    result = runner.invoke(args=["subscribers", "export", ADDRESS])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert compliance.access_export_complete(data) == []
    [item] = data["deliveries"]
    assert (item["status"], item["smtp_reply"], item["subject"]) == (
        "deferred",
        "451 4.3.0 greylisted",
        "Spring news",
    )
    assert [(b["kind"], b["status"]) for b in data["bounce_events"]] == [("soft", "4.2.2")]
    # The outbox holds the confirmation and welcome mails sent to the person: theirs too.
    assert data["outbox_messages"]
    assert all("Subject" in m["message"] for m in data["outbox_messages"])
    assert [o["channel"] for o in data["objections"]] == ["sms"]
    signup_event = data["consent_events"][0]
    assert signup_event["ip"] == "127.0.0.1"
    assert signup_event["consent_text"]["text"]
    assert data["held_under_hash"]["address_hash"] == address_hash(ADDRESS)


def test_former_subscriber_is_answered_from_what_is_held_under_the_hash(client, outbox, runner):
    signup(client, ADDRESS)
    client.post(confirm_path(outbox(ADDRESS)[-1]))
    person = subscriptions.find_subscriber(ADDRESS)
    client.post(urlsplit(links.unsubscribe_url(person.public_id)).path)
    assert subscriptions.find_subscriber(ADDRESS) is None

    result = runner.invoke(args=["subscribers", "export", ADDRESS.upper()])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["subscriber"] is None
    assert [e["kind"] for e in data["consent_events"]] == ["signup", "confirm", "erase"]
    assert data["consent_events"][0]["ip"] == "127.0.0.1"  # the evidence kept 5 years
    assert data["consent_events"][0]["consent_text"]["version"] == 1
    assert {o["channel"] for o in data["objections"]} == {"email", "sms", "phone", "post"}
    assert "We hold no address, name or subscription" in data["held_under_hash"]["note"]
    # The request itself is logged under the hash, without the address.
    db.session.expire_all()
    logged = db.session.scalar(select(RightsRequest).where(RightsRequest.channel == "cli"))
    assert logged.subject_hash == address_hash(ADDRESS)

    nobody = json.loads(runner.invoke(args=["subscribers", "export", "x@example.org"]).output)
    assert nobody["consent_events"] == []
    assert nobody["objections"] == []
    assert nobody["held_under_hash"]["note"] == "We hold nothing about this address."


def test_admin_answers_an_access_request_for_a_former_subscriber(admin_client, make_subscriber):
    from newsletter.models import AuditEntry

    person = make_subscriber(ADDRESS)
    rights.request_erasure(person, channel="admin")
    db.session.commit()
    page = admin_client.get("/admin/subscribers").text
    assert "Access request for an address" in page
    response = admin_client.post("/admin/subscribers/access-request", data={"email": ADDRESS})
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.json["subscriber"] is None
    kinds = [e["kind"] for e in response.json["consent_events"]]
    assert kinds == ["signup", "confirm", "erase"]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action.like("%access%")))
    assert entry.target == address_hash(ADDRESS)  # logged without the address
    bad = admin_client.post("/admin/subscribers/access-request", data={"email": "not one"})
    assert bad.status_code == 400


# --- pages as people use them: CSRF on, every language --------------------------------


@pytest.fixture
def people_app(app):
    """The app as people run it: CSRF on (these tests post each form's own token)."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def _page(client, path: str):
    """GET a page with a form as a browser would, its own CSRF token included.

    (The test's app context outlives each request, and Flask-WTF keeps the token it
    made on `g`: dropped first, so that each client gets the token of its own session.)
    """
    g.pop("csrf_token", None)
    return client.get(path)


def _tokens(page: str) -> dict[str, str]:
    """Every form's CSRF field on a page: {field name: value}."""
    return dict(re.findall(r'name="([\w-]*csrf_token)" type="hidden" value="([^"]+)"', page))


def _subscribed(client, outbox, lang: str, address: str = ADDRESS) -> Subscriber:
    page = _page(client, f"/subscribe?lang={lang}").text
    token = _tokens(page)["csrf_token"]
    data = {
        "csrf_token": token,
        "email": address,
        "topics": ["newsletter"],
        "consent": "y",
        "consent_text_id": shown_consent_text_id(page),  # the text this page shows
    }
    client.post(f"/subscribe?lang={lang}", data=data)
    confirm = confirm_path(outbox(address)[-1])
    page = _page(client, confirm).text
    client.post(confirm, data={"csrf_token": _tokens(page)["csrf_token"]})
    return subscriptions.find_subscriber(address)


TEXTS = {
    "nl": {
        "mailed": "We hebben u een link gemaild",
        "subject": "Uw gegevens bij Demo Shop",
        "details": "Uw gegevens zijn opgeslagen.",
        "confirm_subject": "Bevestig uw nieuwe adres voor Demo Shop",
        "moved": "Uw nieuwe adres is bevestigd",
    },
    "fr": {
        "mailed": "Nous vous avons envoyé un lien",
        "subject": "Vos données chez Demo Shop",
        "details": "Vos coordonnées sont enregistrées.",
        "confirm_subject": "Veuillez confirmer votre nouvelle adresse pour Demo Shop",
        "moved": "Votre nouvelle adresse est confirmée",
    },
    "en": {
        "mailed": "We have mailed you a link",
        "subject": "Your data at Demo Shop",
        "details": "Your details are saved.",
        "confirm_subject": "Please confirm your new address for Demo Shop",
        "moved": "Your new address is confirmed",
    },
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_download_my_data_needs_a_fresh_link_mailed_to_the_address(people_app, outbox, lang):
    app = people_app
    client = app.test_client()
    person = _subscribed(client, outbox, lang)
    preferences = urlsplit(links.preferences_url(person.public_id)).path
    # Someone holding a forwarded newsletter's preferences link presses the button.
    stranger = app.test_client()
    page = _page(stranger, preferences).text
    response = stranger.post(
        f"{preferences}/export", data={"csrf_token": _tokens(page)["csrf_token"]}
    )
    assert response.status_code == 200
    assert response.mimetype == "text/html"  # no data in the answer
    assert TEXTS[lang]["mailed"] in response.text
    assert "127.0.0.1" not in response.text

    [mail] = [m for m in outbox(ADDRESS) if m["Subject"] == TEXTS[lang]["subject"]]
    assert mail["Auto-Submitted"] == "auto-generated"
    assert f'lang="{lang}"' in mail_html(mail)
    link = urlsplit(next(u for u in links_in(mail_text(mail)) if "/export/" in u)).path
    # Opening the mailed link changes nothing; its button downloads the JSON.
    page = _page(client, link)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    download = client.post(link, data={"csrf_token": _tokens(page.text)["csrf_token"]})
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.json["email"] == ADDRESS
    assert download.json["consent_events"][0]["ip"] == "127.0.0.1"
    request = db.session.scalar(select(RightsRequest).where(RightsRequest.channel == "mail"))
    assert request.completed_at is not None

    # The link is short-lived.
    with frozen(utcnow() + timedelta(hours=1, minutes=1)):
        late = _page(client, link)
    assert late.status_code == 410


def test_download_link_mails_are_capped_per_address(people_app, outbox):
    app = people_app
    client = app.test_client()
    person = _subscribed(client, outbox, "en")
    preferences = urlsplit(links.preferences_url(person.public_id)).path
    answers = []
    for _ in range(4):
        page = _page(client, preferences).text
        answers.append(
            client.post(f"{preferences}/export", data={"csrf_token": _tokens(page)["csrf_token"]})
        )
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "Please use the link we mailed you" in answers[-1].text
    assert len([m for m in outbox(ADDRESS) if "/export/" in mail_text(m)]) == 3


def test_download_link_is_refused_after_the_address_changed(people_app, outbox):
    app = people_app
    client = app.test_client()
    person = _subscribed(client, outbox, "en")
    rights.mail_export_link(person)
    db.session.commit()
    [mail] = [m for m in outbox(ADDRESS) if "/export/" in mail_text(m)]
    link = urlsplit(next(u for u in links_in(mail_text(mail)) if "/export/" in u)).path
    person.email = "other@example.be"  # (as an address change does)
    db.session.commit()
    assert _page(client, link).status_code == 404
    assert _page(client, link[:-3] + "abc").status_code == 400  # tampered


@pytest.mark.parametrize("lang", LANGUAGES)
def test_name_and_language_are_corrected_at_once(people_app, outbox, lang):
    app = people_app
    client = app.test_client()
    person = _subscribed(client, outbox, lang)
    preferences = urlsplit(links.preferences_url(person.public_id)).path
    page = _page(client, preferences).text
    assert 'id="details-locale"' in page
    other = {"nl": "fr", "fr": "en", "en": "nl"}[lang]
    response = client.post(
        f"{preferences}/details",
        data={
            "details-csrf_token": _tokens(page)["details-csrf_token"],
            "details-name": "Jan Peeters",
            "details-locale": lang,
            "details-email": "",
        },
    )
    assert response.status_code == 200
    assert TEXTS[lang]["details"] in response.text
    db.session.expire_all()
    person = subscriptions.find_subscriber(ADDRESS)
    assert person.name == "Jan Peeters"
    page = _page(client, preferences).text
    client.post(
        f"{preferences}/details",
        data={
            "details-csrf_token": _tokens(page)["details-csrf_token"],
            "details-name": "Jan Peeters",
            "details-locale": other,
        },
    )
    db.session.expire_all()
    assert subscriptions.find_subscriber(ADDRESS).locale == other
    # The record names the fields, never their values (events outlive an erasure).
    events = db.session.scalars(select(ConsentEvent).where(ConsentEvent.kind == "rectify"))
    assert [e.detail["fields"] for e in events] == [["name"], ["locale"]]
    assert rows_mentioning("Jan Peeters") == [f"subscriber: {r}" for r in _subscriber_rows()]


def _subscriber_rows():
    return db.session.execute(select(Subscriber.__table__)).all()


def test_bad_details_are_refused_clearly_and_change_nothing(people_app, outbox):
    app = people_app
    client = app.test_client()
    person = _subscribed(client, outbox, "en")
    preferences = urlsplit(links.preferences_url(person.public_id)).path
    page = _page(client, preferences).text
    response = client.post(
        f"{preferences}/details",
        data={
            "details-csrf_token": _tokens(page)["details-csrf_token"],
            "details-name": "Jan",
            "details-locale": "de",
            "details-email": "not an address",
        },
    )
    assert response.status_code == 400
    assert "Please check the email address" in response.text
    assert "Not a valid choice" in response.text
    db.session.expire_all()
    person = subscriptions.find_subscriber(ADDRESS)
    assert (person.name, person.locale) == (None, "en")
    assert db.session.scalar(select(AddressChange)) is None


@pytest.mark.parametrize("lang", LANGUAGES)
def test_address_change_is_a_new_double_opt_in(people_app, outbox, lang):
    app = people_app
    new = "jan@nieuw.example"
    client = app.test_client()
    person = _subscribed(client, outbox, lang)
    public_id = person.public_id
    preferences = urlsplit(links.preferences_url(public_id)).path
    page = _page(client, preferences).text
    client.post(
        f"{preferences}/details",
        data={
            "details-csrf_token": _tokens(page)["details-csrf_token"],
            "details-name": "",
            "details-locale": lang,
            "details-email": new.upper(),
        },
    )
    # Nothing moved yet: the old address stays subscribed and keeps getting the mail. The
    # current address approves first (tests/test_address_change_approval.py).
    db.session.expire_all()
    assert subscriptions.find_subscriber(ADDRESS).status == SubscriberStatus.ACTIVE
    assert outbox(new) == []
    approve = approval_path(outbox(ADDRESS)[-1])
    page = _page(client, approve).text
    client.post(approve, data={"csrf_token": _tokens(page)["csrf_token"]})
    [mail] = outbox(new)
    assert mail["Subject"] == TEXTS[lang]["confirm_subject"]
    assert mail["Auto-Submitted"] == "auto-generated"
    link = urlsplit(next(u for u in links_in(mail_text(mail)) if "/address/" in u)).path
    page = _page(client, link)  # a link scanner's GET changes nothing
    assert page.status_code == 200
    assert subscriptions.find_subscriber(new) is None

    response = client.post(link, data={"csrf_token": _tokens(page.text)["csrf_token"]})
    assert TEXTS[lang]["moved"] in response.text
    db.session.expire_all()
    moved = subscriptions.find_subscriber(new)
    assert moved.public_id == public_id
    assert moved.status == SubscriberStatus.ACTIVE
    assert [s.topic.slug for s in moved.subscriptions] == ["newsletter"]
    # The old address is gone from every table and the file; the history stays.
    assert _file_mentions(app, ADDRESS) == []
    data = rights.export_subject(subscriptions.find_subscriber(new))
    kinds = [e["kind"] for e in data["consent_events"]]
    assert kinds == [
        "signup",
        "confirm",
        "address-change-request",
        "address-change-approved",
        "address-change",
    ]
    assert db.session.scalar(select(AddressChange)) is None
    # A second use of the link finds nothing to do.
    again = client.post(link, data={"csrf_token": _tokens(page.text)["csrf_token"]})
    assert again.status_code == 404


def approval_path(mail) -> str:
    """The path of the link, mailed to the current address, that approves its change."""
    return urlsplit(next(u for u in links_in(mail_text(mail)) if "/address/approve/" in u)).path


def _admin_asks_change(person: Subscriber, new: str) -> None:
    """An address change asked by the admin (on the person's request): the new address
    gets its confirmation link at once (no approval step: not what these tests are about)."""
    subscriptions.request_address_change(
        person, new, subscriptions.Evidence("t"), requested_by="admin"
    )


def test_after_an_address_change_a_former_subscriber_gets_the_whole_history(
    app, make_subscriber, outbox
):
    person = make_subscriber(ADDRESS)
    _admin_asks_change(person, "jan@nieuw.example")
    db.session.commit()
    [mail] = outbox("jan@nieuw.example")
    link = next(u for u in links_in(mail_text(mail)) if "/address/" in u)
    token = link.rsplit("/", 1)[1]
    subscriptions.confirm_address_change(token, subscriptions.Evidence("t"))
    db.session.commit()
    rights.request_erasure(subscriptions.find_subscriber("jan@nieuw.example"), channel="cli")
    db.session.commit()
    data = rights.export_former("jan@nieuw.example")
    kinds = [e["kind"] for e in data["consent_events"]]
    assert kinds == ["signup", "confirm", "address-change-request", "address-change", "erase"]


def test_address_already_subscribed_is_not_taken_over(people_app, make_subscriber, outbox):
    app = people_app
    person = make_subscriber(ADDRESS)
    make_subscriber("bob@example.be")
    _admin_asks_change(person, "bob@example.be")
    db.session.commit()
    [mail] = [m for m in outbox("bob@example.be") if "/address/" in mail_text(m)]
    link = urlsplit(next(u for u in links_in(mail_text(mail)) if "/address/" in u)).path
    client = app.test_client()
    page = _page(client, link).text
    response = client.post(link, data={"csrf_token": _tokens(page)["csrf_token"]})
    assert response.status_code == 409
    db.session.expire_all()
    assert subscriptions.find_subscriber(ADDRESS) is not None
    assert subscriptions.find_subscriber("bob@example.be").id != person.id


def test_unconfirmed_address_changes_are_purged(app, make_subscriber):
    person = make_subscriber(ADDRESS)
    _admin_asks_change(person, "jan@nieuw.example")
    db.session.commit()
    subscriptions.purge_unconfirmed(utcnow() + timedelta(hours=49), 48)
    db.session.commit()
    assert db.session.scalar(select(AddressChange)) is None
    assert subscriptions.find_subscriber(ADDRESS).status == SubscriberStatus.ACTIVE


def test_erasure_with_a_pending_address_change_leaves_neither_address(app, make_subscriber, outbox):
    person = make_subscriber(ADDRESS)
    _admin_asks_change(person, "jan@nieuw.example")
    db.session.commit()
    rights.request_erasure(person, channel="cli")
    db.session.commit()
    assert _file_mentions(app, ADDRESS) == []
    assert _file_mentions(app, "jan@nieuw.example") == []
    assert db.session.scalar(select(Suppression.address_hash)) == address_hash(ADDRESS)


def test_admin_corrects_the_details_and_the_log_keeps_no_values(people_app, admin_user, outbox):
    app = people_app
    from newsletter.models import AuditEntry
    from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD

    admin = app.test_client()
    login = _page(admin, "/admin/login").text
    admin.post(
        "/admin/login",
        data={
            "csrf_token": _tokens(login)["csrf_token"],
            "email": ADMIN_EMAIL,
            "password": ADMIN_PASSWORD,
        },
    )
    ann = Subscriber(email=ADDRESS, status=SubscriberStatus.ACTIVE, locale="en")
    db.session.add(ann)
    db.session.commit()
    page = _page(admin, f"/admin/subscribers/{ann.public_id}").text
    assert "Correct the details" in page
    response = admin.post(
        f"/admin/subscribers/{ann.public_id}/details",
        data={
            "details-csrf_token": _tokens(page)["details-csrf_token"],
            "details-name": "Jan Peeters",
            "details-locale": "nl",
            "details-email": "jan@nieuw.example",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    ann = subscriptions.find_subscriber(ADDRESS)
    assert (ann.name, ann.locale) == ("Jan Peeters", "nl")
    [mail] = outbox("jan@nieuw.example")
    assert mail["Subject"] == TEXTS["nl"]["confirm_subject"]  # in the person's language
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "subscriber.rectify"))
    assert entry.detail == {"fields": ["name", "locale"], "new_address": True}
    assert "Jan" not in json.dumps(entry.detail)
    bad = admin.post(
        f"/admin/subscribers/{ann.public_id}/details",
        data={
            "details-csrf_token": _tokens(page)["details-csrf_token"],
            "details-locale": "xx",
        },
    )
    assert bad.status_code == 400
