"""Every link keeps its word (issue 13, problem 3).

An unsubscribe or preferences link of an older message acts on the person as they are now
(after an opt-out and a new signup, or a lapsed and re-imported customer), and says what
it did; an admin's test send goes only to admins or to addresses that never objected,
says it is a test, claims no consent, and its links change nothing. Each in nl, fr, en.

These tests run as people run the product: CSRF on, an https BASE_URL, and a real SMTP
server on loopback (tests/smtp_sink.py) that receives every mail.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from newsletter import campaigns, compliance, links, objections, sending, tokens
from newsletter.addresses import address_hash
from newsletter.clock import utcnow
from newsletter.extensions import db
from newsletter.models import (
    Channel,
    ConsentEvent,
    RetiredPublicId,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tests.helpers import ADMIN_EMAIL, confirm_path, mail_html, mail_text, shown_consent_text_id
from tests.timetravel import at, rows_mentioning, run_job

LANGUAGES = ("nl", "fr", "en")
ADDRESS = {"nl": "jan@example.be", "fr": "marie@example.be", "en": "ann@example.org"}
ONE_CLICK = {"List-Unsubscribe": "One-Click"}  # RFC 8058 §3.2: what a mailbox provider posts
# What a reader sees on each page, in each language (from the translation catalogues).
SAYS = {
    "nl": {
        "unsubscribed": "U bent uitgeschreven",
        "ended_too": "Deze link komt uit een ouder bericht: hij heeft ook uw huidige inschrijving",
        "applies": "Deze link komt uit een ouder bericht: hij geldt voor uw inschrijving",
        "shows": "Deze link komt uit een ouder bericht: deze pagina toont uw inschrijving",
        "nobody": "Onder deze link is niemand meer ingeschreven",
        "on_record": "Uw bezwaar tegen alle marketing van Demo Shop",
        "unknown": "Wij hebben geen inschrijving voor deze link, dus er is niets gewijzigd.",
        "test_page": "Dit was een testbericht",
        "nothing_changed": "Er is niets gewijzigd: de links van een testbericht",
        "banner": "Testbericht: zo zal de campagne eruitzien.",
        "test_reason": "Dit is een testbericht dat een beheerder van Demo Shop stuurde",
        "consent_claim": "uw toestemming bevestigde op",
    },
    "fr": {
        "unsubscribed": "Vous êtes désinscrit",
        "ended_too": "Ce lien provient d’un message plus ancien : il a aussi mis fin à votre",
        "applies": "Ce lien provient d’un message plus ancien : il s’applique à votre inscription",
        "shows": "Ce lien provient d’un message plus ancien : cette page montre votre inscription",
        "nobody": "Plus personne n’est inscrit sous ce lien",
        "on_record": "Votre opposition à tout marketing de Demo Shop",
        "unknown": "Nous n’avons aucune inscription pour ce lien, rien n’a donc été modifié.",
        "test_page": "C’était un message de test",
        "nothing_changed": "Rien n’a été modifié : les liens d’un message de test",
        "banner": "Message de test : voici à quoi ressemblera la campagne.",
        "test_reason": "Ceci est un message de test envoyé par un administrateur de Demo Shop",
        "consent_claim": "avez confirmé votre consentement",
    },
    "en": {
        "unsubscribed": "You are unsubscribed",
        "ended_too": "This link came from an older message: it has ended your current subscription",
        "applies": "This link came from an older message: it applies to your subscription",
        "shows": "This link came from an older message: this page shows your subscription",
        "nobody": "Nobody is subscribed under this link any more",
        "on_record": "Your objection to all marketing from Demo Shop",
        "unknown": "We hold no subscription for this link, so nothing was changed.",
        "test_page": "This was a test message",
        "nothing_changed": "Nothing was changed: the links of a test message",
        "banner": "Test message: this is how the campaign will look.",
        "test_reason": "This is a test message sent by an administrator of Demo Shop",
        "consent_claim": "confirmed your consent on",
    },
}


@pytest.fixture
def app_config(app_config, smtp_server):
    # CSRF on (the conftest default turns it off for unit tests) and a real SMTP server:
    # nothing is relaxed here.
    return {**app_config, **smtp_server.config(), "WTF_CSRF_ENABLED": True}


# --- helpers -----------------------------------------------------------------------------


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def path_of(url: str) -> str:
    return urlsplit(url).path


def mails_to(smtp_server, address: str) -> list:
    return [m.message for m in smtp_server.messages if m.rcpt_tos == [address]]


def subscriber(address: str) -> Subscriber | None:
    db.session.expire_all()
    return db.session.scalar(select(Subscriber).where(Subscriber.email == address))


def sign_up_and_confirm(client, smtp_server, address: str, language: str) -> Subscriber:
    """The double opt-in as a person does it in a browser in `language`, CSRF on."""
    browser = {"Accept-Language": language}
    form = client.get("/subscribe", headers=browser).text
    shown = shown_consent_text_id(form)  # the text this page shows, in its language
    data = {"email": address, "topics": ["newsletter"], "consent": "y", "consent_text_id": shown}
    client.post("/subscribe", data={**data, "csrf_token": csrf(form)}, headers=browser)
    confirm = confirm_path(mails_to(smtp_server, address)[-1])
    page = client.get(confirm, headers=browser).text
    assert client.post(confirm, data={"csrf_token": csrf(page)}, headers=browser).status_code == 200
    person = subscriber(address)
    assert (person.status, person.locale) == (SubscriberStatus.ACTIVE, language)
    return person


def campaign_mail(smtp_server, make_campaign, address: str, **campaign):
    """Send a campaign now and return the message `address` received."""
    campaigns.start_sending(make_campaign(**campaign))
    db.session.commit()
    sending.send_pending("test-worker")
    return [m for m in mails_to(smtp_server, address) if m["List-Unsubscribe"]][-1]


def one_click_path(message) -> str:
    """The https link of List-Unsubscribe (the RFC 8058 one-click target)."""
    return path_of(re.search(r"<(https://[^>]+)>", message["List-Unsubscribe"]).group(1))


def preferences_path(message) -> str:
    return path_of(re.search(r"<(https://[^>]+)>", message["List-Help"]).group(1))


def held_rows() -> tuple[int, int, int, int]:
    """How many subscribers, suppression entries, consent events and retired ids exist."""
    db.session.expire_all()
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Subscriber, Suppression, ConsentEvent, RetiredPublicId)
    )


def unsubscribed_then_back(app, client, smtp_server, make_campaign, language: str):
    """Sign up, get a campaign, unsubscribe with its one-click link, sign up again:
    returns the older message and the new subscriber."""
    address = ADDRESS[language]
    first_id = sign_up_and_confirm(client, smtp_server, address, language).public_id
    older = campaign_mail(smtp_server, make_campaign, address)
    provider = app.test_client()  # a mailbox provider: no cookie, no CSRF token
    assert provider.post(one_click_path(older), data=ONE_CLICK).status_code == 200
    assert subscriber(address) is None
    again = sign_up_and_confirm(client, smtp_server, address, language)
    assert again.public_id != first_id  # a new row: the older links name a retired id
    return older, again


def assert_erased_and_objected(address: str) -> None:
    assert subscriber(address) is None
    digest = address_hash(address)
    assert all(compliance.is_objected(digest, channel) for channel in Channel.ALL)
    assert rows_mentioning(address) == []


# --- older links reach the person as they are now ----------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_opt_out_link_reaches_current_subscription(
    app, client, smtp_server, make_campaign, language
):
    """The one-click POST of an older message's link, after an opt-out and a new signup,
    erases the new subscription and says so; a second POST says nobody is subscribed."""
    older, _again = unsubscribed_then_back(app, client, smtp_server, make_campaign, language)
    provider = app.test_client()
    answer = provider.post(one_click_path(older), data=ONE_CLICK)
    assert answer.status_code == 200
    assert "Location" not in answer.headers
    assert_erased_and_objected(ADDRESS[language])  # the new subscription is gone
    assert SAYS[language]["unsubscribed"] in answer.text
    assert SAYS[language]["ended_too"] in answer.text
    before = held_rows()
    repeated = provider.post(one_click_path(older), data=ONE_CLICK)
    assert repeated.status_code == 200  # idempotent: a success that changes nothing
    assert held_rows() == before
    assert SAYS[language]["unsubscribed"] not in repeated.text
    assert SAYS[language]["nobody"] in repeated.text
    assert SAYS[language]["on_record"] in repeated.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_opt_out_link_reaches_current_subscription_from_the_page_and_its_button(
    app, client, smtp_server, make_campaign, language
):
    older, again = unsubscribed_then_back(app, client, smtp_server, make_campaign, language)
    page = client.get(one_click_path(older))  # a GET changes nothing (link scanners)
    assert page.status_code == 200
    assert SAYS[language]["applies"] in page.text
    assert subscriber(ADDRESS[language]).public_id == again.public_id
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    answer = client.post(action)  # the page's button: its form has no other field
    assert answer.status_code == 200
    assert_erased_and_objected(ADDRESS[language])
    assert SAYS[language]["unsubscribed"] in answer.text
    assert SAYS[language]["ended_too"] in answer.text
    gone = client.get(one_click_path(older))
    assert SAYS[language]["nobody"] in gone.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_opt_out_link_reaches_current_subscription_through_the_older_preferences_link(
    app, client, smtp_server, make_campaign, language
):
    older, again = unsubscribed_then_back(app, client, smtp_server, make_campaign, language)
    path = preferences_path(older)
    page = client.get(path)
    assert page.status_code == 200
    assert SAYS[language]["shows"] in page.text
    assert 'checked id="topics-0" name="topics" type="checkbox" value="newsletter"' in page.text
    assert (
        path_of(links.unsubscribe_url(again.public_id)) in page.text
    )  # today's link, not the older one
    answer = client.post(path, data={"csrf_token": csrf(page.text)})  # every list unticked
    assert answer.status_code == 200
    assert_erased_and_objected(ADDRESS[language])
    assert SAYS[language]["unsubscribed"] in answer.text
    assert SAYS[language]["ended_too"] in answer.text
    gone = client.get(path)
    assert gone.status_code == 404
    assert SAYS[language]["nobody"] in gone.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_opt_out_link_reaches_current_subscription_of_a_reimported_customer(
    app, runner, tmp_path, smtp_server, make_topic, make_campaign, language
):
    """A customer mailed, lapsed (deleted without a marker) and imported again with a
    newer purchase: the older message's one-click link erases the new row."""
    make_topic("offers", "Offers", own_similar_products=True)
    address, start = ADDRESS[language], utcnow()

    def import_customer(purchased):
        path = tmp_path / f"customers-{purchased:%Y%m%d}.csv"
        # optout_offered: the evidence an existing-customer row needs (docs/IMPORTS.md).
        offered = "webshop checkout: unticked box 'No offers by email'"
        path.write_text(
            "email,topics,purchased_at,optout_offered,locale\n"
            f'{address},offers,{purchased:%Y-%m-%d},"{offered}",{language}\n'
        )
        args = ["subscribers", "import", str(path), "--basis", "existing-customer"]
        args += ["--source", "shop checkout, our own customers", "--own-contacts"]
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        return subscriber(address)

    first_id = import_customer(start - timedelta(days=30)).public_id
    older = campaign_mail(smtp_server, make_campaign, address, topic_slug="offers")
    later = start + timedelta(days=731)
    run_job("customer-basis-lapses", later)
    assert subscriber(address) is None
    with at(later):
        again = import_customer(later - timedelta(days=3))
        assert (again.status, again.public_id != first_id) == (SubscriberStatus.ACTIVE, True)
        answer = app.test_client().post(one_click_path(older), data=ONE_CLICK)
    assert answer.status_code == 200
    assert_erased_and_objected(address)
    assert SAYS[language]["unsubscribed"] in answer.text
    assert SAYS[language]["ended_too"] in answer.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_link_nothing_is_known_of_says_so_and_changes_nothing(client, language):
    path = "/unsubscribe/" + tokens.sign(tokens.UNSUBSCRIBE, "an-id-never-given-out")
    before = held_rows()
    for answer in (
        client.get(path, headers={"Accept-Language": language}),
        client.post(path, data=ONE_CLICK, headers={"Accept-Language": language}),
    ):
        assert answer.status_code == 200
        assert SAYS[language]["unknown"] in answer.text
        assert SAYS[language]["unsubscribed"] not in answer.text
        assert "<form" not in answer.text.split("<main", 1)[-1]
    assert held_rows() == before


# --- the admin's test send -----------------------------------------------------------------


def test_refusal_of_test_recipient(app, admin_user):
    objections.record_objection("seed@example.org", ["post"], via="api")
    objected = address_hash("seed@example.org")
    reason = compliance.refusal_of_test_recipient(objected, is_admin=False)
    assert "has objected to marketing or is suppressed (post)" in reason
    assert compliance.refusal_of_test_recipient(objected, is_admin=True) is None
    assert compliance.refusal_of_test_recipient(address_hash("new@example.org"), False) is None


def compose(admin_client, **fields):
    """Press "Save and send test" on the compose page, CSRF on."""
    page = admin_client.get("/admin/campaigns/new").text
    data = {"subject": "Lente", "body_markdown": "Hallo **allemaal**.", "topic": "newsletter"}
    data |= {"action": "test", "csrf_token": csrf(page), **fields}
    return admin_client.post("/admin/campaigns/new", data=data)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_test_send_to_an_objected_address_is_refused_in_plain_words(
    admin_client, smtp_server, language
):
    objections.record_objection(ADDRESS[language], None, via="api")  # every channel
    db.session.commit()
    answer = compose(admin_client, test_address=ADDRESS[language], sample=f"lang:{language}")
    assert answer.status_code == 400
    assert "has objected to marketing or is suppressed (email, sms, phone, post)" in answer.text
    assert "not even a test" in answer.text
    assert smtp_server.messages == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_check_test_message(app, admin_client, smtp_server, make_subscriber, language):
    """A test to an admin, made as a real subscriber would get it: it says it is a test,
    claims no consent, and its links change nothing, in the subscriber's language."""
    reader = make_subscriber(ADDRESS[language])
    reader.locale = language
    db.session.commit()
    answer = compose(admin_client, test_address=ADMIN_EMAIL, sample=reader.public_id)
    assert answer.status_code == 302, answer.text
    [received] = smtp_server.messages
    assert received.rcpt_tos == [ADMIN_EMAIL]
    test_mail = received.message
    assert test_mail["Subject"] == "[TEST] Lente"
    assert test_mail["Content-Language"] == language
    for part in (mail_text(test_mail), mail_html(test_mail)):
        assert SAYS[language]["banner"] in part
        assert SAYS[language]["test_reason"] in part
        assert SAYS[language]["consent_claim"] not in part
        assert reader.public_id not in part
    assert compliance.check_test_message(test_mail) == []
    before = held_rows()
    provider = app.test_client()
    pages = [
        provider.post(one_click_path(test_mail), data=ONE_CLICK),
        provider.get(one_click_path(test_mail)),
        provider.get(preferences_path(test_mail)),  # a page without a form
    ]
    for page in pages:
        assert page.status_code == 200
        assert SAYS[language]["test_page"] in page.text
        assert SAYS[language]["nothing_changed"] in page.text
    assert held_rows() == before
    assert subscriber(ADDRESS[language]).status == SubscriberStatus.ACTIVE


def test_check_test_message_refuses_a_campaign_message(make_subscriber, make_campaign, smtp_server):
    """A real campaign message is no test: it claims consent and its links act."""
    make_subscriber("ann@example.org")
    real = campaign_mail(smtp_server, make_campaign, "ann@example.org")
    problems = compliance.check_test_message(real)
    assert "the subject of a test message must start with [TEST]" in problems
    for label in ("text", "HTML"):
        assert f"the {label} part of a test message lacks the test banner" in problems
        assert any(p.startswith(f"the {label} part of a test message claims") for p in problems)
    for link in ("unsubscribe", "preferences"):
        assert any(p.startswith(f"the {link} link of a test message must be") for p in problems)
