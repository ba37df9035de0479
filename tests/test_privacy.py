"""The privacy notice at /privacy: generated from the live configuration, NL/FR/EN."""

from __future__ import annotations

import html
import re

import pytest

from newsletter import compliance
from tests.live import browser_page, serve

HEADINGS = {
    "en": "Privacy notice for our newsletter",
    "nl": "Privacyverklaring voor onze nieuwsbrief",
    "fr": "Déclaration de confidentialité de notre newsletter",
}
AUTHORITIES = {
    "en": ("Data Protection Authority", "Autoriteit Persoonsgegevens"),
    "nl": ("Gegevensbeschermingsautoriteit", "Autoriteit Persoonsgegevens"),
    "fr": ("Autorité de protection des données", "Autoriteit Persoonsgegevens"),
}


def text_of(response) -> str:
    """The visible text, tags removed, whitespace (also French no-break spaces) collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


@pytest.mark.parametrize("lang", ["en", "nl", "fr"])
def test_privacy_notice_in_each_language(client, lang):
    response = client.get(f"/privacy?lang={lang}")
    assert response.status_code == 200
    assert response.headers["Content-Language"] == lang
    assert f'<html lang="{lang}">' in response.text
    page = text_of(response)
    assert HEADINGS[lang] in page
    assert "Demo Shop, Rue de l'Exemple 1, 1000 Brussels" in page
    assert "news@shop.example" in page  # contact
    for authority in AUTHORITIES[lang]:
        assert authority in page
    others = {"en", "nl", "fr"} - {lang}
    for other in others:
        assert f'href="/privacy?lang={other}"' in response.text


# Each period key set to a distinct value, and how a reader sees it in each language
# (written out by hand: not computed by the function under test).
CHANGED_PERIODS = {
    "AUDIT_RETENTION_DAYS": (1096, "3 years", "3 jaar", "3 ans"),
    "CONFIRM_MAX_AGE_HOURS": (36, "36 hours", "36 uur", "36 heures"),
    "CONSENT_EVIDENCE_RETENTION_DAYS": (2557, "7 years", "7 jaar", "7 ans"),
    "CUSTOMER_BASIS_DAYS": (1461, "4 years", "4 jaar", "4 ans"),
    "DELIVERY_RETENTION_DAYS": (243, "8 months", "8 maanden", "8 mois"),
    "OUTBOX_RETENTION_DAYS": (14, "14 days", "14 dagen", "14 jours"),
    "RECONSENT_GRACE_DAYS": (21, "21 days", "21 dagen", "21 jours"),
    "RECONSENT_INTERVAL_DAYS": (
        548,
        "1 year and 6 months",
        "1 jaar en 6 maanden",
        "1 an et 6 mois",
    ),
    "RIGHTS_REQUEST_RETENTION_DAYS": (3287, "9 years", "9 jaar", "9 ans"),
}
LANG_COLUMN = {"en": 1, "nl": 2, "fr": 3}


@pytest.mark.parametrize("lang", ["en", "nl", "fr"])
def test_privacy_notice_shows_every_configured_period(app, client, lang):
    """Change each period: the page changes with it (the notice stays true)."""
    keys = sorted({key for key, _unit in compliance.RETENTION_PERIODS.values()})
    assert sorted(CHANGED_PERIODS) == keys  # a new period needs a line here
    for key, (value, *_words) in CHANGED_PERIODS.items():
        app.config[key] = value
    page = text_of(client.get(f"/privacy?lang={lang}"))
    for key, row in CHANGED_PERIODS.items():
        assert row[LANG_COLUMN[lang]] in page, f"{key} is missing from the {lang} notice"

    app.config["DELIVERY_RETENTION_DAYS"] = 17
    page = text_of(client.get(f"/privacy?lang={lang}"))
    assert CHANGED_PERIODS["DELIVERY_RETENTION_DAYS"][LANG_COLUMN[lang]] not in page
    assert {"en": "17 days", "nl": "17 dagen", "fr": "17 jours"}[lang] in page


def test_privacy_defaults_are_shown(client):
    page = text_of(client.get("/privacy?lang=en"))
    assert "deleted after 48 hours" in page
    assert "asked again 2 years after" in page
    assert "within 30 days" in page
    assert "Delivery records: 3 months" in page


@pytest.mark.parametrize(
    ("accept", "expected"),
    [("nl-BE,nl;q=0.9,en;q=0.5", "nl"), ("fr-BE", "fr"), ("de-DE", "en"), (None, "en")],
)
def test_browser_language_chooses_the_notice(client, accept, expected):
    headers = {"Accept-Language": accept} if accept else {}
    response = client.get("/privacy", headers=headers)
    assert response.headers["Content-Language"] == expected
    assert "Accept-Language" in response.headers["Vary"]


def test_lang_parameter_wins_and_unknown_falls_back(client):
    dutch_browser = {"Accept-Language": "nl"}
    assert client.get("/privacy?lang=fr", headers=dutch_browser).headers["Content-Language"] == "fr"
    response = client.get("/privacy?lang=xx", headers=dutch_browser)
    assert response.status_code == 200
    assert response.headers["Content-Language"] == "nl"


def test_a_dutch_browser_reads_the_notice_and_switches_to_french(app):
    with serve(app) as base_url, browser_page(locale="nl-BE") as page:
        page.goto(f"{base_url}/privacy")
        assert page.locator("h1").inner_text() == HEADINGS["nl"]
        assert "2 jaar" in page.locator("ul.retention").inner_text()
        page.get_by_role("link", name="Français").click()
        page.wait_for_url("**/privacy?lang=fr")
        assert page.locator("h1").inner_text() == HEADINGS["fr"]
        assert "2 ans" in page.locator("ul.retention").inner_text()
