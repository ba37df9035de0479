"""Subscriber pages and system mails in Dutch, French and English."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from sqlalchemy import select

from newsletter import links
from newsletter.extensions import db
from newsletter.models import Subscriber
from tests.helpers import confirm_path, mail_text, signup

TRANSLATIONS = Path(__file__).resolve().parents[1] / "newsletter" / "translations"


@pytest.mark.parametrize(
    ("accept", "heading"),
    [
        ("nl-BE,nl;q=0.9", "Schrijf u in op onze mailinglijsten"),
        ("fr-BE,fr;q=0.9", "Inscrivez-vous à nos listes de diffusion"),
        ("de-DE", "Subscribe to our mailing lists"),
    ],
)
def test_signup_page_follows_the_browser_language(client, accept, heading):
    page = client.get("/subscribe", headers={"Accept-Language": accept}).text
    assert heading in page


def test_lang_parameter_wins_over_the_browser(client):
    page = client.get("/subscribe?lang=fr", headers={"Accept-Language": "nl"}).text
    assert '<html lang="fr">' in page
    assert "S’inscrire" in page


def test_confirmation_mail_and_pages_use_the_subscribers_language(client, outbox):
    signup(client, "jan@example.be", headers={"Accept-Language": "nl-BE"})
    [message] = outbox()
    assert str(message["Subject"]).startswith("Bevestig uw inschrijving")
    assert "Of open deze link" not in mail_text(message)  # html-only sentence
    assert "Open deze link en druk op" in mail_text(message)
    subscriber = db.session.scalar(select(Subscriber))
    assert subscriber.locale == "nl"
    confirm = client.get(confirm_path(message)).text  # browser language unknown here
    assert "Bevestig uw inschrijving" in confirm
    prefs = client.get("/" + links.preferences_url(subscriber.public_id).split("/", 3)[3])
    assert "Mijn keuzes bewaren" in prefs.text


def test_validation_errors_are_translated(client):
    response = signup(client, "nope", headers={"Accept-Language": "fr"})
    assert "Vérifiez l’adresse e-mail" in response.text


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_every_message_is_translated_and_compiled(language):
    folder = TRANSLATIONS / language / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as po_file:
        catalog = read_po(po_file)
    with open(folder / "messages.mo", "rb") as mo_file:
        compiled = read_mo(mo_file)
    untranslated = [m.id for m in catalog if m.id and not all(_strings(m))]
    assert untranslated == []
    assert _entries(catalog) == _entries(compiled)


def _strings(message) -> tuple:
    """A message's translations: one, or one per plural form (ngettext)."""
    string = message.string
    return tuple(string) if isinstance(string, (list, tuple)) else (string,)


def _entries(catalog) -> dict:
    """{msgid (a tuple for a plural): translations} of a .po or .mo catalog."""
    return {
        (tuple(m.id) if isinstance(m.id, (list, tuple)) else m.id): _strings(m)
        for m in catalog
        if m.id
    }


def test_campaign_footer_is_in_each_recipients_language(app, make_subscriber, make_campaign):
    from newsletter import campaigns

    dutch = make_subscriber("jan@example.be")
    dutch.locale = "nl"
    french = make_subscriber("marie@example.be")
    french.locale = "fr"
    db.session.commit()
    campaign = make_campaign(subject="Nieuws", body="Hallo **iedereen**")
    nl_html, nl_text = campaigns.preview(campaign, dutch)
    fr_html, fr_text = campaigns.preview(campaign, french)
    en_html, en_text = campaigns.preview(campaign, None)
    assert "Uitschrijven voor alle marketing" in nl_html
    assert "Uitschrijven voor alle marketing" in nl_text
    assert "U ontvangt deze e-mail omdat u zich inschreef" in nl_text
    assert "Se désinscrire de tout marketing" in fr_html
    assert "Unsubscribe from all marketing" in en_text
    assert '<html lang="nl">' in nl_html


def test_reconsent_mail_is_in_the_subscribers_language(app, make_subscriber, outbox):
    from datetime import timedelta

    from newsletter import reconsent
    from newsletter.clock import utcnow

    marie = make_subscriber("marie@example.be", consented_at=utcnow() - timedelta(days=800))
    marie.locale = "fr"
    db.session.commit()
    reconsent.request_due(utcnow(), 730, 100)
    db.session.commit()
    [message] = outbox("marie@example.be")
    assert str(message["Subject"]) == "Souhaitez-vous encore recevoir des e-mails de Demo Shop ?"
    assert "Rester inscrit" in mail_text(message)
