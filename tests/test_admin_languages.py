"""The admin pages in Dutch, French and English (issue 15, point 4): each admin's own
choice, kept on their account; the catalogs complete for the admin's messages; no English
left outside `_()` in the admin templates translated so far."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import g, request_started
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import AdminUser
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, mail_html, mail_text

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "newsletter" / "translations"
ADMIN_SOURCES = ("templates/admin/", "newsletter/views/admin/")

# The admin templates whose every visible word is in `_()` (checked below). Pass 2 of
# issue 15 point 4 adds: campaigns.html, compose.html, campaign_send.html, progress.html,
# subscribers.html, topics.html, topic_edit.html, consent_texts.html, login.html (and
# their views campaigns.py, subscribers.py, topics.py, consent_texts.py, auth.py).
TRANSLATED_TEMPLATES = (
    "base.html",
    "_macros.html",
    "dashboard.html",
    "_import_counts.html",
    "import.html",
    "import_done.html",
    "import_preview.html",
    "audit.html",
    "records.html",
    "breaches.html",
    "api_tokens.html",
    "outbox.html",
    "outbox_message.html",
    "subscriber.html",
    "subscriber_erase.html",
    "embed.html",
    "subscribers.html",
    "subscriber_add.html",
    "export_list.html",
    "topics.html",
    "topic_edit.html",
    "consent_texts.html",
    "login.html",
    "login_code.html",
    "invitation.html",
    "admins.html",
    "account.html",
    "webhooks.html",
    # pass 2a: the campaign side
    "compose.html",
    "campaign_send.html",
    "progress.html",
    "campaigns.html",
    "campaign_content.html",
    "campaign_delete.html",
    "_campaign_report.html",
    "_media_insert.html",
    "media.html",
    "branding.html",
)

# Words that are the same in every language: names, formats, protocols, units.
SAME_IN_EVERY_LANGUAGE = {
    *("CSV", "JSON", "HTML", "SMTP", "API", "UTC", "IP", "GDPR", "v", "px"),
    *("URL", "SHA-"),  # "SHA-256"
}

SECOND_EMAIL = "marie@shop.example"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


@pytest.fixture(autouse=True)
def one_request_one_admin(app):
    """The test app keeps one app context (so one `g`) for the whole test: forget the
    signed-in admin and the CSRF token Flask-Login and Flask-WTF cache there at every
    request, as a real server does, so that two browsers can take turns."""

    def forget(sender, **extra):
        g.pop("_login_user", None)
        g.pop("csrf_token", None)

    request_started.connect(forget, app)
    yield
    request_started.disconnect(forget, app)


def csrf_token(page_text: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page_text).group(1)


def sign_in(app, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, headers=None):
    browser = app.test_client()
    page = browser.get("/admin/login", headers=headers).text
    response = browser.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(page)},
        headers=headers,
    )
    assert response.status_code == 302, response.text
    return browser


def sign_out(browser):
    page = browser.get("/admin/").text
    response = browser.post("/admin/logout", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302


def choose(browser, locale, page="/admin/"):
    shown = browser.get(page).text
    return browser.post(
        "/admin/language",
        data={"csrf_token": csrf_token(shown), "locale": locale, "next": page},
        follow_redirects=True,
    )


@pytest.fixture
def second_admin(app, admin_user, admin_password_hash):
    marie = AdminUser(email=SECOND_EMAIL, password_hash=admin_password_hash)
    db.session.add(marie)
    db.session.commit()
    return marie


def test_an_admin_who_chooses_dutch_reads_the_admin_in_dutch_and_others_keep_english(
    app, admin_user, second_admin
):
    jan = sign_in(app)
    marie = sign_in(app, SECOND_EMAIL)
    switched = choose(jan, "nl")
    assert switched.status_code == 200
    assert "De beheerpagina&#39;s zijn nu in het Nederlands." in switched.text
    dashboard = jan.get("/admin/").text
    assert '<html lang="nl">' in dashboard
    assert "<h1>Overzicht</h1>" in dashboard
    assert "Inschrijvers per onderwerp" in dashboard
    assert ">Afmelden</button>" in dashboard
    upload = jan.get("/admin/import").text
    assert "<h1>Inschrijvers importeren</h1>" in upload
    assert "Het bewijs dat elke rij nodig heeft" in upload
    assert "Voorbeeld van de import" in upload
    # Marie, signed in at the same time, made no choice: English, as before.
    other = marie.get("/admin/").text
    assert '<html lang="en">' in other
    assert "<h1>Dashboard</h1>" in other
    assert "Subscribers per topic" in other
    assert "<h1>Import subscribers</h1>" in marie.get("/admin/import").text
    assert db.session.scalar(select(AdminUser.locale).where(AdminUser.email == ADMIN_EMAIL)) == (
        "nl"
    )


def test_the_choice_survives_signing_out_and_in_and_wins_over_the_browser(app, admin_user):
    jan = sign_in(app)
    choose(jan, "fr", page="/admin/import")
    sign_out(jan)
    again = sign_in(app, headers={"Accept-Language": "nl-BE,nl;q=0.9"})
    dashboard = again.get("/admin/", headers={"Accept-Language": "nl-BE,nl;q=0.9"}).text
    assert '<html lang="fr">' in dashboard
    assert "<h1>Tableau de bord</h1>" in dashboard
    assert "Abonnés par thème" in dashboard
    upload = again.get("/admin/import").text
    assert "<h1>Importer des abonnés</h1>" in upload
    assert "Aperçu de l’import" in upload
    # And back to English.
    back = choose(again, "en")
    assert "The admin pages are now in English." in back.text
    assert "<h1>Dashboard</h1>" in again.get("/admin/").text


def test_without_a_choice_the_browser_language_decides_then_english(app, admin_user):
    jan = sign_in(app)
    assert "<h1>Dashboard</h1>" in jan.get("/admin/").text
    assert "<h1>Dashboard</h1>" in jan.get("/admin/", headers={"Accept-Language": "de"}).text
    dutch = jan.get("/admin/", headers={"Accept-Language": "nl-BE"}).text
    assert '<html lang="nl">' in dutch
    assert "<h1>Overzicht</h1>" in dutch
    french = jan.get("/admin/audit", headers={"Accept-Language": "fr-BE,fr;q=0.9"}).text
    assert "<h1>Journal d’audit</h1>" in french


def test_the_login_page_follows_the_browser_and_lang(app, admin_user):
    browser = app.test_client()
    assert '<html lang="fr">' in browser.get("/admin/login?lang=fr").text
    assert '<html lang="nl">' in browser.get("/admin/login", headers={"Accept-Language": "nl"}).text
    assert '<html lang="en">' in browser.get("/admin/login").text


def test_the_switcher_refuses_a_post_without_csrf_token_or_an_unknown_language(app, admin_user):
    jan = sign_in(app)
    assert jan.post("/admin/language", data={"locale": "nl"}).status_code == 400  # CSRF
    unknown = choose(jan, "de")
    assert "Choose one of the languages offered." in unknown.text
    assert db.session.scalar(select(AdminUser.locale)) is None
    token = csrf_token(jan.get("/admin/").text)
    away = jan.post(
        "/admin/language", data={"csrf_token": token, "locale": "nl", "next": "//x.example/"}
    )
    assert away.headers["Location"] == "/admin/"  # no open redirect
    assert app.test_client().get("/admin/").status_code == 302  # behind login


def test_the_switcher_is_in_the_admin_header_with_a_csrf_token(app, admin_user):
    page = sign_in(app).get("/admin/").text
    switcher = re.search(r'<form method="post" action="/admin/language".*?</form>', page, re.S)
    assert switcher is not None
    assert 'name="csrf_token"' in switcher.group(0)
    assert 'name="locale" value="nl"' in switcher.group(0)
    assert 'name="locale" value="fr"' in switcher.group(0)
    assert "?lang=" not in page  # the public ?lang= links would not be remembered


# --- the catalogs ---------------------------------------------------------------------


def _admin_messages() -> dict:
    """{msgid (a tuple for a plural): [where]} extracted from the admin templates and views
    with the project's babel.cfg, as `pybabel extract` does."""
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    found: dict = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        if filename.startswith(ADMIN_SOURCES):
            found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


def _by_id(catalog) -> dict:
    return {
        (tuple(m.id) if isinstance(m.id, (list, tuple)) else m.id): (
            tuple(m.string) if isinstance(m.string, (list, tuple)) else (m.string,)
        )
        for m in catalog
        if m.id
    }


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_every_admin_message_is_translated_and_compiled(language):
    messages = _admin_messages()
    assert len(messages) > 200  # the extraction found the admin pages
    folder = TRANSLATIONS / language / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as po_file:
        po = _by_id(read_po(po_file))
    with open(folder / "messages.mo", "rb") as mo_file:
        mo = _by_id(read_mo(mo_file))
    missing = {m: where for m, where in messages.items() if not all(po.get(m, ("",)))}
    assert missing == {}
    stale = [m for m in messages if po[m] != mo.get(m)]
    assert stale == []  # run: pybabel compile -f -d newsletter/translations


class _VisibleText(HTMLParser):
    """The text a person sees (text nodes and the attributes read out or shown)."""

    SHOWN_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "value"}

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style"}:
            self._hidden += 1
        for name, value in attrs:
            kind = dict(attrs).get("type")
            # A button's or an option's value is posted, not shown (its content is).
            if name == "value" and tag != "input":
                continue
            if name in self.SHOWN_ATTRIBUTES and value and kind not in {"hidden"}:
                self.found.append(value)

    def handle_endtag(self, tag):
        if tag in {"script", "style"}:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.found.append(data)


def _untranslated(source: str) -> list[str]:
    """Words of English outside `_()` in a Jinja template."""
    without_jinja = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", source, flags=re.S)
    parser = _VisibleText()
    parser.feed(without_jinja)
    words = []
    for text in parser.found:
        for word in re.findall(r"[A-Za-z][A-Za-z'’-]*", text):
            if word not in SAME_IN_EVERY_LANGUAGE:
                words.append(word)
    return words


@pytest.mark.parametrize("name", TRANSLATED_TEMPLATES)
def test_no_english_is_left_outside_gettext(name):
    source = (ROOT / "templates" / "admin" / name).read_text()
    assert _untranslated(source) == []


def test_the_scan_finds_english_outside_gettext():
    found = _untranslated(
        '<h1>{{ _("Dashboard") }}</h1><p title="Sign out">Import #{{ n }} · CSV</p>'
    )
    assert found == ["Sign", "out", "Import"]


# --- pass 2b: people and accounts -------------------------------------------------------


def test_a_dutch_admin_reads_subscribers_topics_and_account_in_dutch(
    app, admin_user, make_topic, make_subscriber
):
    topic = make_topic("aanbiedingen", name="Aanbiedingen")
    make_subscriber("piet@shop.example", topics=("aanbiedingen",))
    jan = sign_in(app)
    choose(jan, "nl")
    listing = jan.get("/admin/subscribers").text
    assert "<h1>Inschrijvers</h1>" in listing
    assert "Een inschrijver toevoegen" in listing
    assert "Adres bevat" in listing
    assert ">Zoeken</button>" in listing
    assert "piet@shop.example" in listing
    assert "Inzageverzoek voor een adres" in listing
    edit = jan.get(f"/admin/topics/{topic.id}").text
    assert "Onderwerp <code>aanbiedingen</code> bewerken" in edit
    assert "Per taal" in edit
    assert "Beschrijving (optioneel)" in edit  # a form label (lazy_gettext)
    assert ">Opslaan</button>" in edit
    account = jan.get("/admin/account").text
    assert "<h1>Uw account</h1>" in account
    assert f"Aangemeld als {ADMIN_EMAIL}" in account
    assert "Uw wachtwoord wijzigen" in account
    assert "Huidig wachtwoord" in account
    # A form error from the view, in Dutch too.
    token = csrf_token(account)
    wrong = jan.post(
        "/admin/account/password",
        data={"csrf_token": token, "current": "", "password": "x", "repeat": "y"},
    )
    assert "Vul uw huidige wachtwoord in." in wrong.text
    # The sign-in page of a visitor asking for French, with its form labels.
    login = app.test_client().get("/admin/login?lang=fr").text
    assert '<html lang="fr">' in login
    assert "<h1>Se connecter</h1>" in login
    assert "Mot de passe" in login
    assert ">Se connecter</button>" in login


def test_a_french_admin_invites_in_french_and_the_flash_is_french(app, admin_user, outbox):
    jan = sign_in(app)
    choose(jan, "fr")
    page = jan.get("/admin/admins").text
    assert "Inviter un administrateur" in page
    assert "(vous)" in page
    sent = jan.post(
        "/admin/admins",
        data={"csrf_token": csrf_token(page), "email": "new@shop.example", "role": "editor"},
        follow_redirects=True,
    )
    assert "Invitation envoyée à new@shop.example" in sent.text
    [invitation] = outbox("new@shop.example")  # in the language of the admin who invites
    assert invitation["Subject"].startswith("Vous êtes invité·e à l’administration")
    assert "Définissez votre mot de passe avec ce lien" in mail_text(invitation)
    assert '<html lang="fr">' in mail_html(invitation)


# --- pass 2a: the campaign side -------------------------------------------------------

CAMPAIGN_PAGES = {
    "nl": {
        "compose": ["<h1>Lente</h1>", "Concept opslaan", "Opslaan en nu versturen…",
                    "Gaat naar <strong>2</strong> personen met een rechtsgrond voor dit onderwerp.",
                    "Preheader (de voorbeeldregel in de inbox)", "English (standaard)"],
        "confirm": ["„Lente” nu versturen?", "Wie krijgt welke versie", "Taal van de ontvangers",
                    "geen versie in het Nederlands", "Versturen naar 2 personen", "Nog niet"],
        "progress": ["Verzending: Lente", "Per taal", "Wachtend", "Bounces en klachten",
                     "Verzending annuleren", "Cijfers (zonder tracking)"],
    },
    "fr": {
        "compose": ["<h1>Lente</h1>", "Enregistrer le brouillon",
                    "Enregistrer et envoyer maintenant…",
                    "Part vers <strong>2</strong> personnes avec une base légale pour ce thème.",
                    "Pré-en-tête (la ligne d’aperçu dans les boîtes de réception)",
                    "English (par défaut)"],
        "confirm": ["Envoyer « Lente » maintenant ?", "Qui reçoit quelle version",
                    "Langue des destinataires", "pas de version en Français",
                    "Envoyer à 2 personnes", "Pas encore"],
        "progress": ["Envoi : Lente", "Par langue", "En attente", "Rebonds et plaintes",
                     "Annuler l’envoi", "Chiffres (sans pistage)"],
    },
}  # fmt: skip


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_an_admin_composes_confirms_and_follows_a_campaign_in_their_language(
    app, admin_user, make_campaign, make_subscriber, language
):
    ann = make_subscriber("ann@example.org")
    bob = make_subscriber("bob@example.org")
    ann.locale, bob.locale = "nl", "fr"
    db.session.commit()
    campaign = make_campaign(subject="Lente", body="Hello **everyone**.")  # English only
    jan = sign_in(app)
    choose(jan, language)
    expected = CAMPAIGN_PAGES[language]

    compose = jan.get(f"/admin/campaigns/{campaign.id}")
    assert compose.status_code == 200
    assert f'<html lang="{language}">' in compose.text
    for text in expected["compose"]:
        assert text in compose.text
    assert "Save draft" not in compose.text

    confirm = jan.get(f"/admin/campaigns/{campaign.id}/send")
    for text in expected["confirm"]:
        assert text in confirm.text
    assert "Who gets which version" not in confirm.text

    sent = jan.post(
        f"/admin/campaigns/{campaign.id}/send",
        data={"csrf_token": csrf_token(confirm.text), "only_locale": ""},
    )
    assert sent.status_code == 302
    progress = jan.get(sent.headers["Location"])
    assert progress.status_code == 200
    for text in expected["progress"]:
        assert text in progress.text
    assert "Per language" not in progress.text
