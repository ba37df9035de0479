"""An address change is first approved from the current address (GDPR Art. 5(1)(f), 16,
32): someone holding a forwarded newsletter's preferences link cannot move the
subscription to an address they read, and so cannot get the person's mail or, through
the mailed "download my data" link, their data.

The page tests run with CSRF on and the default configuration, as people run it (each
form's own token is posted); mail is read from the built-in outbox.
"""

from __future__ import annotations

import html
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from newsletter import compliance, links, rights, subscriptions, tokens
from newsletter.clock import frozen, utcnow
from newsletter.extensions import db
from newsletter.models import AddressChange, ConsentEvent, SubscriberStatus
from tests.helpers import links_in, mail_text
from tests.test_access_rights import (
    ADDRESS,
    LANGUAGES,
    _page,
    _subscribed,
    _tokens,
    approval_path,
    people_app,  # noqa: F401  (fixture)
)

STRANGER = "forwarded.to@elders.example"

TEXTS = {
    "nl": {
        "asked": "Wij hebben uw huidige adres een mail gestuurd om de wijziging goed te keuren.",
        "subject": "Wilt u uw adres bij Demo Shop wijzigen?",
        "approve_page": "De adreswijziging goedkeuren",
        "mailed_new": "Wij hebben een bevestigingslink naar",
        "confirm_subject": "Bevestig uw nieuwe adres voor Demo Shop",
        "moved": "Uw nieuwe adres is bevestigd",
        "expired": "Deze link is verlopen",
    },
    "fr": {
        "asked": (
            "Nous avons envoyé un e-mail à votre adresse actuelle pour approuver le changement."
        ),
        "subject": "Voulez-vous changer votre adresse chez Demo Shop ?",
        "approve_page": "Approuver le changement d'adresse",
        "mailed_new": "Nous avons envoyé un lien de confirmation à",
        "confirm_subject": "Veuillez confirmer votre nouvelle adresse pour Demo Shop",
        "moved": "Votre nouvelle adresse est confirmée",
        "expired": "Ce lien a expiré",
    },
    "en": {
        "asked": "We have sent a mail to your current address to approve the change.",
        "subject": "Do you want to change your address for Demo Shop?",
        "approve_page": "Approve the change of address",
        "mailed_new": "We have sent a confirmation link to",
        "confirm_subject": "Please confirm your new address for Demo Shop",
        "moved": "Your new address is confirmed",
        "expired": "This link has expired",
    },
}


def _ask_change(client, preferences: str, lang: str, new: str):
    page = _page(client, preferences).text
    return client.post(
        f"{preferences}/details",
        data={
            "details-csrf_token": _tokens(page)["details-csrf_token"],
            "details-name": "",
            "details-locale": lang,
            "details-email": new,
        },
    )


def _address_link(mail) -> str:
    return urlsplit(next(u for u in links_in(mail_text(mail)) if "/address/" in u)).path


def test_address_change_first_approved_by_current_address():
    assert compliance.address_change_first_approved_by_current_address("subscriber")
    assert not compliance.address_change_first_approved_by_current_address("admin")
    assert compliance.ADDRESS_APPROVAL_MAX_AGE_HOURS <= 1  # short-lived


@pytest.mark.parametrize("lang", LANGUAGES)
def test_address_change_first_approved_by_current_address_a_forwarded_link_moves_nothing(
    people_app,  # noqa: F811
    outbox,
    lang,
):
    app = people_app
    person = _subscribed(app.test_client(), outbox, lang)
    preferences = urlsplit(links.preferences_url(person.public_id)).path
    # Someone who got a forwarded newsletter asks to move the subscription to their address.
    stranger = app.test_client()
    response = _ask_change(stranger, preferences, lang, STRANGER)
    assert response.status_code == 200
    assert TEXTS[lang]["asked"] in response.text
    assert outbox(STRANGER) == []  # nothing goes to the new address yet
    # The current address is asked, in its language, and told which address was given.
    mail = outbox(ADDRESS)[-1]
    assert mail["Subject"] == TEXTS[lang]["subject"]
    assert mail["Auto-Submitted"] == "auto-generated"
    assert STRANGER in mail_text(mail)
    approve = approval_path(mail)
    # Whatever the stranger does with the links they have, the subscription stays.
    _page(stranger, preferences)
    stranger.post(
        f"{preferences}/export",
        data={"csrf_token": _tokens(_page(stranger, preferences).text)["csrf_token"]},
    )
    assert outbox(STRANGER) == []
    db.session.expire_all()
    assert subscriptions.find_subscriber(ADDRESS).status == SubscriberStatus.ACTIVE
    assert subscriptions.find_subscriber(STRANGER) is None
    # The approval link is short-lived: an hour later it is refused, and nothing was sent.
    with frozen(utcnow() + timedelta(hours=compliance.ADDRESS_APPROVAL_MAX_AGE_HOURS, minutes=1)):
        late = _page(app.test_client(), approve)
        assert late.status_code == 410
        assert TEXTS[lang]["expired"] in late.text
    assert outbox(STRANGER) == []
    assert subscriptions.find_subscriber(ADDRESS).email == ADDRESS


@pytest.mark.parametrize("lang", LANGUAGES)
def test_address_change_first_approved_by_current_address_then_confirmed_by_the_new(
    people_app,  # noqa: F811
    outbox,
    lang,
):
    app = people_app
    new = "jan@nieuw.example"
    client = app.test_client()
    person = _subscribed(client, outbox, lang)
    public_id = person.public_id
    preferences = urlsplit(links.preferences_url(public_id)).path
    _ask_change(client, preferences, lang, new)
    approve = approval_path(outbox(ADDRESS)[-1])
    page = _page(client, approve)  # a link scanner's GET changes nothing
    assert page.status_code == 200
    assert TEXTS[lang]["approve_page"] in html.unescape(page.text)
    assert new in page.text
    assert outbox(new) == []
    response = client.post(approve, data={"csrf_token": _tokens(page.text)["csrf_token"]})
    assert response.status_code == 200
    assert TEXTS[lang]["mailed_new"] in response.text
    # Now, and only now, the new address is asked (a new double opt-in).
    [mail] = outbox(new)
    assert mail["Subject"] == TEXTS[lang]["confirm_subject"]
    db.session.expire_all()
    assert subscriptions.find_subscriber(ADDRESS).status == SubscriberStatus.ACTIVE
    confirm = _address_link(mail)
    page = _page(client, confirm)
    response = client.post(confirm, data={"csrf_token": _tokens(page.text)["csrf_token"]})
    assert TEXTS[lang]["moved"] in response.text
    db.session.expire_all()
    moved = subscriptions.find_subscriber(new)
    assert moved.public_id == public_id
    assert subscriptions.find_subscriber(ADDRESS) is None
    events = rights.export_subject(moved)["consent_events"]
    assert [e["kind"] for e in events][-3:] == [
        "address-change-request",
        "address-change-approved",
        "address-change",
    ]
    change = db.session.scalar(select(ConsentEvent).where(ConsentEvent.kind == "address-change"))
    assert change.detail["approved_by"] == "current-address"


def test_an_address_link_not_issued_after_an_approval_is_refused(people_app, make_subscriber):  # noqa: F811
    """A confirmation link for the new address is only valid when the server issued it
    after the approval (or for the admin): one made as before this rule, or naming another
    approver, is a broken link and moves nothing."""
    app = people_app
    person = make_subscriber(ADDRESS)
    subscriptions.request_address_change(person, "jan@nieuw.example", subscriptions.Evidence("t"))
    db.session.commit()
    change = db.session.scalar(select(AddressChange))
    client = app.test_client()
    for payload in (
        [person.public_id, change.id],  # the link of the version before this rule
        [person.public_id, change.id, "subscriber"],
    ):
        path = urlsplit(
            links.public_url("public.address_confirm", token=tokens.sign(tokens.ADDRESS, payload))
        ).path
        assert _page(client, path).status_code == 400
    # Neither is the approval link accepted as a confirmation link, nor the other way round.
    approval = tokens.sign(tokens.ADDRESS_APPROVE, [person.public_id, change.id])
    assert _page(client, f"/address/{approval}").status_code == 400
    db.session.expire_all()
    assert subscriptions.find_subscriber(ADDRESS) is not None
    assert subscriptions.find_subscriber("jan@nieuw.example") is None


def test_address_change_asked_by_the_admin_needs_no_approval_from_the_old_address(
    app, make_subscriber, outbox
):
    """The admin acts on the person's request (and checks who asks): the new address gets
    its confirmation link at once, and nothing goes to the current address."""
    person = make_subscriber(ADDRESS)
    before = len(outbox(ADDRESS))
    subscriptions.request_address_change(
        person, "jan@nieuw.example", subscriptions.Evidence("admin"), requested_by="admin"
    )
    db.session.commit()
    assert len(outbox(ADDRESS)) == before
    [mail] = outbox("jan@nieuw.example")
    subscriptions.confirm_address_change(
        _address_link(mail).rsplit("/", 1)[1], subscriptions.Evidence("t")
    )
    db.session.commit()
    assert subscriptions.find_subscriber("jan@nieuw.example").id == person.id
