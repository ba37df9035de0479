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
    """The visible text, tags removed, whitespace collapsed."""
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", response.text).split()))


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


@pytest.mark.parametrize("lang", ["en", "nl", "fr"])
def test_privacy_notice_shows_every_configured_period(app, client, lang):
    """Change each period: the page changes with it (the notice stays true)."""
    keys = sorted({key for key, _unit in compliance.RETENTION_PERIODS.values()})
    for n, key in enumerate(keys):
        app.config[key] = 4100 + n
    page = text_of(client.get(f"/privacy?lang={lang}"))
    for n, key in enumerate(keys):
        assert str(4100 + n) in page, f"{key} is missing from the {lang} notice"

    app.config["DELIVERY_RETENTION_DAYS"] = 17
    page = text_of(client.get(f"/privacy?lang={lang}"))
    assert "17" in page
    assert str(4100 + keys.index("DELIVERY_RETENTION_DAYS")) not in page


def test_privacy_defaults_are_shown(client):
    page = text_of(client.get("/privacy?lang=en"))
    assert "deleted after 48 hours" in page
    assert "asked again 730 days after" in page
    assert "within 30 days" in page
    assert "Delivery records: 90 days" in page


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
        assert "730 dagen" in page.locator("ul.retention").inner_text()
        page.get_by_role("link", name="Français").click()
        page.wait_for_url("**/privacy?lang=fr")
        assert page.locator("h1").inner_text() == HEADINGS["fr"]
        assert "730 jours" in page.locator("ul.retention").inner_text()
