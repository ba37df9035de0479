"""Consent is shown where it is given (issue 13, problem 5; issue 15, point 2).

The consent text of the page's language is displayed on every page that collects
consent (signup, preferences, re-consent), versioned per language; the server decides
which text was shown; the lists' wording is kept with the event; every consent, on
every path, starts the re-consent clock. CSRF is on and the configuration is the
default one, as people run it: each form is read from its page, as a browser does.
"""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g
from flask_migrate import upgrade
from sqlalchemy import delete, select

from newsletter import clock, compliance, create_app, links, subscriptions
from newsletter.defaults import DEFAULT_CONSENT_TEXTS, DEFAULT_TOPIC_NAMES
from newsletter.extensions import db
from newsletter.models import Basis, ConsentEvent, ConsentText, Subscriber, Topic
from tests.helpers import (
    BASE_URL,
    confirm_path,
    links_in,
    mail_text,
)
from tests.live import browser_page, serve
from tests.test_migrations import MIGRATIONS
from tests.timetravel import at, run_job

LANGUAGES = ["nl", "fr", "en"]
DAY = timedelta(days=1)
ADDRESS = "ann@example.org"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def fresh(client):
    """A new request, as from a new page load: the tests' app context outlives requests,
    and Flask-Babel, Flask-WTF and i18n.use_locale keep their per-request state on `g`."""
    for name in ("_flask_babel", "csrf_token", "subscriber_locale"):
        g.pop(name, None)
    return client


def form_fields(page: str) -> dict:
    """The hidden fields of the page's main form (CSRF token, consent text id)."""
    return {
        "csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1),
        "consent_text_id": re.search(r'name="consent_text_id" value="(\d+)"', page).group(1),
    }


def consent_label(page: str) -> tuple[str, str]:
    """The language and the words of the text beside the consent box."""
    found = re.search(
        r'<label for="consent" lang="(\w+)" class="consent-text">([^<]*)</label>', page
    )
    assert found, "no consent text beside the box"
    return found.group(1), html.unescape(found.group(2))


def sign_up(client, lang: str, address: str = ADDRESS, topics=("newsletter",), **override):
    page = fresh(client).get(f"/subscribe?lang={lang}").text
    data = {**form_fields(page), "email": address, "topics": list(topics), "consent": "y"}
    return fresh(client).post(f"/subscribe?lang={lang}", data={**data, **override})


def confirm(client, outbox, address: str = ADDRESS):
    path = confirm_path(outbox(address)[-1])
    page = fresh(client).get(path).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert fresh(client).post(path, data={"csrf_token": token}).status_code == 200


def events(kind: str) -> list[ConsentEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(ConsentEvent).where(ConsentEvent.kind == kind).order_by(ConsentEvent.id)
        )
    )


def text_of(lang: str) -> ConsentText:
    return subscriptions.current_consent_text(lang)


# --- signup ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_signup_records_the_consent_text_shown_in_the_page_language(client, outbox, lang):
    page = fresh(client).get(f"/subscribe?lang={lang}").text
    assert consent_label(page) == (lang, DEFAULT_CONSENT_TEXTS[lang])
    assert "consent-fallback" not in page

    assert sign_up(client, lang).status_code == 200
    confirm(client, outbox)
    for kind in ("signup", "confirm"):
        [event] = events(kind)
        assert event.consent_text.locale == lang
        assert event.consent_text.text == DEFAULT_CONSENT_TEXTS[lang]
    assert subscriptions.find_subscriber(ADDRESS).locale == lang


@pytest.mark.parametrize("lang", ["nl", "fr"])
def test_language_without_a_text_falls_back_visibly_and_records_that_text(client, outbox, lang):
    db.session.execute(delete(ConsentText).where(ConsentText.locale == lang))
    db.session.commit()
    page = fresh(client).get(f"/subscribe?lang={lang}").text
    assert consent_label(page) == ("en", DEFAULT_CONSENT_TEXTS["en"])
    note = {"nl": "Taal van de tekst: English", "fr": "Langue du texte : English"}[lang]
    assert note in page

    sign_up(client, lang)
    [event] = events("signup")
    assert (event.consent_text.locale, event.consent_text.text) == (
        "en",
        DEFAULT_CONSENT_TEXTS["en"],
    )
    assert subscriptions.consent_text_languages_missing() == [lang]


def test_consent_version_is_decided_by_the_server(client, outbox):
    first = text_of("fr")
    second = subscriptions.add_consent_text("Oui, je veux la lettre (version 2).", "fr")
    db.session.commit()

    # A post saying version 1 while the form shows version 2 records nothing ...
    stale = sign_up(client, "fr", consent_text_id=str(first.id))
    assert stale.status_code == 409
    assert consent_label(stale.text) == ("fr", "Oui, je veux la lettre (version 2).")
    assert "Le texte de consentement a changé" in stale.text
    assert 'id="consent" name="consent" value="y">' in stale.text  # unticked again
    assert events("signup") == []
    assert outbox() == []
    # ... nor does one naming another language's text, or none, or garbage.
    for claimed in (str(text_of("en").id), "", "x"):
        assert sign_up(client, "fr", consent_text_id=claimed).status_code == 409
    assert db.session.scalar(select(Subscriber)) is None

    # The form as shown now records version 2.
    assert sign_up(client, "fr").status_code == 200
    [event] = events("signup")
    assert event.consent_text_id == second.id


def test_text_changed_between_showing_and_posting_shows_the_new_text(client, outbox):
    page = fresh(client).get("/subscribe?lang=nl").text
    fields = form_fields(page)
    subscriptions.add_consent_text("Ja, ik wil de nieuwsbrief (versie 2).", "nl")
    db.session.commit()
    data = {**fields, "email": ADDRESS, "topics": ["newsletter"], "consent": "y"}
    response = fresh(client).post("/subscribe?lang=nl", data=data)
    assert response.status_code == 409
    assert consent_label(response.text) == ("nl", "Ja, ik wil de nieuwsbrief (versie 2).")
    assert "De toestemmingstekst is gewijzigd" in response.text
    assert events("signup") == []


def test_french_signup_page_shows_the_french_consent_text_in_chromium(app, outbox):
    with serve(app) as base_url, browser_page(locale="fr-BE") as page:
        page.goto(base_url + "/subscribe")
        assert page.locator("html").get_attribute("lang") == "fr"
        label = page.locator("label[for=consent]")
        assert label.inner_text() == DEFAULT_CONSENT_TEXTS["fr"]
        assert label.get_attribute("lang") == "fr"
        page.get_by_label("Adresse e-mail").fill(ADDRESS)
        page.get_by_label("Lettre d'information", exact=True).check()  # the default list, in French
        label.click()  # the label ticks the box it names
        page.get_by_role("button", name="S’inscrire").click()
        page.wait_for_load_state()
    [event] = events("signup")
    assert event.consent_text.text == DEFAULT_CONSENT_TEXTS["fr"]
    assert [topic["name"] for topic in event.topic_wording] == ["Lettre d'information"]


# --- preferences -------------------------------------------------------------------------


@pytest.fixture
def offers(make_topic):
    return make_topic("offers", "Offers")


def customer(make_subscriber, lang: str) -> Subscriber:
    person = make_subscriber(
        ADDRESS, basis=Basis.EXISTING_CUSTOMER, purchased_at=clock.utcnow() - 10 * DAY
    )
    person.locale, person.consented_at = lang, None
    db.session.commit()
    return person


def preferences_path(person: Subscriber) -> str:
    return links.preferences_url(person.public_id).removeprefix(BASE_URL)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_preferences_page_shows_the_consent_text(client, make_subscriber, offers, lang):
    person = customer(make_subscriber, lang)
    path = preferences_path(person)
    page = fresh(client).get(path).text
    assert consent_label(page) == (lang, DEFAULT_CONSENT_TEXTS[lang])

    # Adding a list without the ticked box is refused, in the page's language.
    fields = form_fields(page)
    refused = fresh(client).post(path, data={**fields, "topics": ["newsletter", "offers"]})
    assert refused.status_code == 400
    message = {
        "nl": "Vink het vakje aan om uw toestemming te geven voor de lijsten",
        "fr": "Cochez la case pour donner votre consentement aux listes",
        "en": "Please tick the box to give your consent for the lists you add.",
    }[lang]
    assert message in refused.text
    assert events("preferences") == []

    data = {**form_fields(refused.text), "topics": ["newsletter", "offers"], "consent": "y"}
    assert fresh(client).post(path, data=data).status_code == 200
    [event] = events("preferences")
    assert (event.consent_text.locale, event.consent_text.text) == (
        lang,
        DEFAULT_CONSENT_TEXTS[lang],
    )
    assert event.topics == ["offers"]
    assert event.topic_wording == [{"slug": "offers", "name": "Offers", "description": ""}]


def test_preferences_consent_beside_an_old_text_is_refused(client, make_subscriber, offers):
    person = customer(make_subscriber, "en")
    path = preferences_path(person)
    fields = form_fields(fresh(client).get(path).text)
    subscriptions.add_consent_text("Yes, mail me (version 2).", "en")
    db.session.commit()
    data = {**fields, "topics": ["newsletter", "offers"], "consent": "y"}
    response = fresh(client).post(path, data=data)
    assert response.status_code == 400
    assert consent_label(response.text) == ("en", "Yes, mail me (version 2).")
    assert events("preferences") == []
    # Dropping a list is no consent: it needs neither the box nor a current text.
    kept = fresh(client).post(path, data={**fields, "topics": ["newsletter"]})
    assert kept.status_code == 200


# --- re-consent --------------------------------------------------------------------------


def reconsent_path(outbox) -> str:
    [message] = [m for m in outbox(ADDRESS) if "/reconsent/" in mail_text(m)]
    [url] = [u for u in links_in(mail_text(message)) if "/reconsent/" in u]
    return url.removeprefix(BASE_URL)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_reconsent_page_shows_the_consent_text(client, make_subscriber, outbox, lang):
    start = clock.utcnow().replace(microsecond=0)
    person = make_subscriber(ADDRESS, consented_at=start)
    person.locale = lang
    db.session.commit()
    run_job("reconsent-requests", start + 731 * DAY)
    path = reconsent_path(outbox)
    with at(start + 735 * DAY):
        page = fresh(client).get(path).text
        shown = re.search(r'<blockquote lang="(\w+)" class="consent-text">([^<]*)<', page)
        assert (shown.group(1), html.unescape(shown.group(2))) == (
            lang,
            DEFAULT_CONSENT_TEXTS[lang],
        )
        fields = form_fields(page)
        subscriptions.add_consent_text(f"{lang}: version 2", lang)
        db.session.commit()
        stale = fresh(client).post(path, data=fields)
        assert stale.status_code == 409
        assert f"{lang}: version 2" in stale.text
        assert events("renew") == []
        assert fresh(client).post(path, data=form_fields(stale.text)).status_code == 200
    [event] = events("renew")
    assert (event.consent_text.locale, event.consent_text.text) == (lang, f"{lang}: version 2")
    # The list's name as the person read it: in their language.
    name = DEFAULT_TOPIC_NAMES.get(lang, "Newsletter")
    assert event.topic_wording == [{"slug": "newsletter", "name": name, "description": ""}]


# --- the lists' wording ------------------------------------------------------------------


def test_topic_wording_is_kept_with_the_consent(client, outbox, runner, admin_user):
    topic = db.session.scalar(select(Topic).where(Topic.slug == "newsletter"))
    topic.description = "Our monthly news about the shop."
    db.session.commit()
    sign_up(client, "en")
    confirm(client, outbox)
    topic.name, topic.description = "Partner offers", "Offers from other companies."
    db.session.commit()

    result = runner.invoke(args=["subscribers", "export", ADDRESS])
    assert result.exit_code == 0, result.output
    exported = {e["kind"]: e for e in json.loads(result.output)["consent_events"]}
    then = [
        {
            "slug": "newsletter",
            "name": "Newsletter",
            "description": "Our monthly news about the shop.",
        }
    ]
    assert exported["signup"]["topic_wording"] == then
    assert exported["confirm"]["topic_wording"] == then
    assert exported["signup"]["consent_text"]["locale"] == "en"

    admin = fresh(client)
    with admin.session_transaction() as session:
        session["_user_id"], session["_fresh"] = str(admin_user.id), True
    g.pop("_login_user", None)
    person = subscriptions.find_subscriber(ADDRESS)
    page = admin.get(f"/admin/subscribers/{person.public_id}").text
    assert "Lists as worded then" in page
    assert "<strong>Newsletter</strong> (newsletter): Our monthly news about the shop." in page


# --- the re-consent clock ----------------------------------------------------------------


def test_reconsent_clock_after():
    old, new = clock.utcnow() - 400 * DAY, clock.utcnow()
    assert compliance.reconsent_clock_after(None, new, False) == new
    assert compliance.reconsent_clock_after(None, new, True) == new
    assert compliance.reconsent_clock_after(old, new, True) == new
    assert compliance.reconsent_clock_after(old, new, False) == old  # older lists still due


def test_every_consent_starts_the_reconsent_clock(client, make_subscriber, offers, outbox):
    person = customer(make_subscriber, "en")
    path = preferences_path(person)
    fields = form_fields(fresh(client).get(path).text)
    ticked_at = clock.utcnow().replace(microsecond=0)
    with at(ticked_at):
        data = {**fields, "topics": ["newsletter", "offers"], "consent": "y"}
        assert fresh(client).post(path, data=data).status_code == 200
    db.session.expire_all()
    assert subscriptions.find_subscriber(ADDRESS).consented_at == ticked_at

    assert run_job("reconsent-requests", ticked_at + 729 * DAY) == 0
    assert run_job("reconsent-requests", ticked_at + 731 * DAY) == 1


def test_adding_a_list_does_not_reset_an_older_consent_clock(client, make_subscriber, offers):
    start = clock.utcnow().replace(microsecond=0) - 400 * DAY
    person = make_subscriber(ADDRESS, consented_at=start)
    path = preferences_path(person)
    fields = form_fields(fresh(client).get(path).text)
    data = {**fields, "topics": ["newsletter", "offers"], "consent": "y"}
    assert fresh(client).post(path, data=data).status_code == 200
    db.session.expire_all()
    assert subscriptions.find_subscriber(ADDRESS).consented_at == start
    assert run_job("reconsent-requests", start + 731 * DAY) == 1


def test_basis_since(make_subscriber):
    """The footer (campaigns.recipient_for, the sender) and the export give one date."""
    from newsletter import campaigns, rights

    bought = clock.utcnow().replace(microsecond=0) - 30 * DAY
    person = make_subscriber(ADDRESS, consented_at=bought - 300 * DAY)
    person.purchased_at = bought
    [subscription] = person.subscriptions
    db.session.commit()
    assert compliance.basis_since(Basis.CONSENT, subscription.confirmed_at, bought) == (
        subscription.confirmed_at
    )
    assert compliance.basis_since(Basis.EXISTING_CUSTOMER, subscription.confirmed_at, bought) == (
        bought
    )
    footer = campaigns.recipient_for(person, subscription.topic).since
    assert footer == subscription.confirmed_at
    assert f"{footer:%Y-%m-%d}" in rights.why_you_receive(person, subscription)


# --- the operator's side -----------------------------------------------------------------


def test_consent_text_set_on_the_command_line(client, runner, tmp_path):
    wording = tmp_path / "nl.txt"
    wording.write_text("Ja, stuur mij de nieuwsbrief (versie 2).\n", encoding="utf-8")
    result = runner.invoke(
        args=["consent-text", "set", "--locale", "nl_BE", "--file", str(wording)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "nl version 2"
    page = fresh(client).get("/subscribe?lang=nl").text
    assert consent_label(page) == ("nl", "Ja, stuur mij de nieuwsbrief (versie 2).")
    assert (
        consent_label(fresh(client).get("/subscribe?lang=fr").text)[1]
        == (DEFAULT_CONSENT_TEXTS["fr"])
    )
    again = runner.invoke(args=["consent-text", "set", "--locale", "nl", "--file", str(wording)])
    assert "unchanged" in again.output

    empty, latin1 = tmp_path / "empty.txt", tmp_path / "latin1.txt"
    empty.write_text("  \n")
    latin1.write_bytes("Je veux la lettre, été".encode("latin-1"))
    for args, says in (
        (["--locale", "de", "--file", str(wording)], "not a language offered"),
        (["--locale", "fr", "--file", str(empty)], "is empty"),
        (["--locale", "fr", "--file", str(latin1)], "as UTF-8"),
    ):
        bad = runner.invoke(args=["consent-text", "set", *args])
        assert bad.exit_code != 0
        assert says in bad.output
        assert "Nothing was changed" in bad.output
    db.session.expire_all()
    assert [t.version for t in db.session.scalars(select(ConsentText))].count(2) == 1


def test_admin_consent_texts_page_shows_each_language_and_the_missing_ones(app, admin_user):
    db.session.execute(delete(ConsentText).where(ConsentText.locale == "fr"))
    db.session.commit()
    admin = app.test_client()
    with admin.session_transaction() as session:
        session["_user_id"], session["_fresh"] = str(admin_user.id), True
    page = admin.get("/admin/consent-texts").text
    assert "Without a text of their own: Français (fr)" in page
    table = re.search(r'<table id="consent-languages">.*?</table>', page, flags=re.S).group(0)
    assert "Nederlands (nl)" in table
    assert "English version 1 (fallback)" in table
    nl_page = admin.get("/admin/consent-texts?locale=nl").text
    assert "Nederlands wording (version 1)" in nl_page
    assert DEFAULT_CONSENT_TEXTS["nl"] in html.unescape(nl_page)


# --- the migration -----------------------------------------------------------------------


@pytest.mark.parametrize("customised", [False, True])
def test_migration_0008_gives_existing_texts_the_default_language(empty_database_url, customised):
    """Existing texts become English; nl and fr are added only beside the default wording
    (a translation of a wording the operator changed would be invented)."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "k",
            "SQLALCHEMY_DATABASE_URI": empty_database_url,
            "AUTO_UPGRADE_SQLITE": False,
        }
    )
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0007")
        if customised:
            db.session.execute(sa.text("UPDATE consent_text SET text = 'Our words', sha256 = 'x'"))
            db.session.commit()
        upgrade(directory=MIGRATIONS)
        rows = db.session.execute(
            sa.text("SELECT locale, version, text FROM consent_text ORDER BY id")
        ).all()
        expected = (
            [("en", 1, "Our words")]
            if customised
            else [(code, 1, DEFAULT_CONSENT_TEXTS[code]) for code in ("en", "nl", "fr")]
        )
        assert [tuple(r) for r in rows] == expected
        db.session.remove()
        db.engine.dispose()
