"""Issue 15 for the people side: configured languages and zone, topics per language, local
time, the subscriber's own language, error pages in the visitor's language, the admin's
language filter. CSRF is on; subscriber paths run in nl, fr and en.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from flask import g
from sqlalchemy import select

from newsletter import campaigns, clock, create_app, sending, subscriptions
from newsletter.config import ConfigurationError
from newsletter.extensions import db
from newsletter.models import AuditEntry, Campaign, ConsentEvent, Subscriber, Topic
from tests.helpers import aware, mail_html, mail_text

LANGUAGES = ["nl", "fr", "en"]
ADDRESS = "ann@example.org"
OFFERS = {
    "nl": ("Aanbiedingen", "Onze kortingen, eens per maand."),
    "fr": ("Promotions", "Nos réductions, une fois par mois."),
    "en": ("Offers", "Our discounts, once a month."),
}


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def fresh(client):
    """A new page load: the tests' app context outlives requests (see test_consent_shown)."""
    for name in ("_flask_babel", "csrf_token", "subscriber_locale"):
        g.pop(name, None)
    return client


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def html_lang(page: str) -> str:
    return re.search(r'<html lang="([^"]+)"', page).group(1)


@pytest.fixture
def offers(runner, make_topic):
    """A topic with its name and description in each language, through the CLI."""
    topic = make_topic("offers", "Base offers")
    for code, (name, description) in OFFERS.items():
        result = runner.invoke(
            args=["topics", "translate", "offers", "--locale", code, "--name", name,
                  "--description", description]
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    return topic


# --- configuration -------------------------------------------------------------------------


def test_defaults_are_the_three_languages_english_and_brussels(app):
    assert app.config["LANGUAGES"] == ["nl", "fr", "en"]
    assert app.config["DEFAULT_LANGUAGE"] == "en"
    assert app.config["TIMEZONE"] == "Europe/Brussels"


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"TIMEZONE": "Europe/Bruxelles"}, "NEWSLETTER_TIMEZONE"),
        ({"LANGUAGES": ["nl", "de"]}, "NEWSLETTER_LANGUAGES"),
        ({"DEFAULT_LANGUAGE": "de"}, "NEWSLETTER_DEFAULT_LANGUAGE"),
        ({"LANGUAGES": ["nl", "fr"]}, "NEWSLETTER_DEFAULT_LANGUAGE"),  # default "en" not offered
    ],
)
def test_a_bad_language_or_zone_refuses_to_start_naming_the_variable(app_config, override, named):
    with pytest.raises(ConfigurationError, match=named):
        create_app({**app_config, **override})


def test_only_the_configured_languages_are_offered(app_config, postgres_url):
    from tests.conftest import _reset_schema

    two = create_app({**app_config, "LANGUAGES": ["nl", "fr"], "DEFAULT_LANGUAGE": "nl"})
    with two.app_context():
        _reset_schema(postgres_url)
        page = two.test_client().get("/subscribe", headers={"Accept-Language": "en"}).text
        assert html_lang(page) == "nl"  # English not offered: the default language
        assert 'hreflang="fr"' in page
        assert 'hreflang="en"' not in page
        db.session.remove()
        db.engine.dispose()


# --- topics per language -------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_signup_shows_each_topic_and_its_description_in_the_page_language(
    client, offers, outbox, lang
):
    page = fresh(client).get(f"/subscribe?lang={lang}").text
    name, description = OFFERS[lang]
    assert f">{name}</label>" in page
    assert f'id="topic-help-offers">{description}</p>' in page.replace("&#39;", "'")
    assert 'aria-describedby="topic-help-offers"' in page
    assert "Base offers" not in page

    data = {
        "csrf_token": csrf(page),
        "consent_text_id": re.search(r'name="consent_text_id" value="(\d+)"', page).group(1),
        "email": ADDRESS,
        "topics": ["offers"],
        "consent": "y",
    }
    assert fresh(client).post(f"/subscribe?lang={lang}", data=data).status_code == 200
    event = db.session.scalar(select(ConsentEvent).where(ConsentEvent.kind == "signup"))
    assert event.topic_wording == [{"slug": "offers", "name": name, "description": description}]
    assert event.consent_text.locale == lang
    assert subscriptions.find_subscriber(ADDRESS).locale == lang  # the page's language is theirs
    confirmation = mail_text(outbox(ADDRESS)[-1])
    assert name in confirmation


def test_a_language_without_a_translation_shows_the_default_language_version(
    client, runner, make_topic
):
    make_topic("offers", "Base offers")
    runner.invoke(args=["topics", "translate", "offers", "--locale", "en", "--name", "Offers"])
    page = fresh(client).get("/subscribe?lang=fr").text
    assert ">Offers</label>" in page


def test_topics_translate_refuses_a_language_not_offered_and_an_unknown_topic(runner, offers):
    result = runner.invoke(args=["topics", "translate", "offers", "--locale", "de", "--name", "X"])
    assert result.exit_code != 0
    assert "not a language offered" in result.output
    result = runner.invoke(args=["topics", "translate", "nope", "--locale", "nl", "--name", "X"])
    assert result.exit_code != 0
    assert "No topic" in result.output


@pytest.mark.parametrize("lang", LANGUAGES)
def test_preferences_page_names_the_topics_in_the_subscriber_language(
    client, offers, make_subscriber, lang
):
    from newsletter import links

    person = make_subscriber(ADDRESS, topics=("newsletter", "offers"))
    person.locale = lang
    db.session.commit()
    page = fresh(client).get(links.preferences_url(person.public_id)).text
    assert html_lang(page) == lang
    assert f">{OFFERS[lang][0]}</label>" in page


def test_admin_edits_each_language_of_a_topic(admin_client, offers):
    url = f"/admin/topics/{offers.id}"
    page = admin_client.get(url).text
    assert 'value="Aanbiedingen"' in page
    assert 'lang="fr"' in page
    data = {
        "csrf_token": csrf(page),
        "name": "Base offers",
        "description": "",
        "product_range": "",
        "name_nl": "Kortingen",
        "description_nl": "Elke maand.",
        "name_fr": "Promotions",
        "description_fr": OFFERS["fr"][1],
        "name_en": "",  # removes the English version: English pages show the base name
        "description_en": "",
    }
    assert admin_client.post(url, data=data).status_code == 302
    from newsletter import topic_translations

    db.session.expire_all()
    topic = db.session.get(Topic, offers.id)
    assert topic_translations.name(topic, "nl") == "Kortingen"
    assert topic_translations.description(topic, "nl") == "Elke maand."
    assert topic_translations.name(topic, "en") == "Base offers"
    actions = db.session.scalars(select(AuditEntry.detail).where(AuditEntry.target == "offers"))
    assert any(d.get("translation") == "nl" for d in actions)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_campaign_footer_and_list_id_name_the_topic_in_the_recipient_language(
    make_subscriber, offers, outbox, lang
):
    person = make_subscriber(
        ADDRESS, topics=("offers",), consented_at=aware(2026, 12, 31, 23, 30)
    )  # 23:30 UTC is already 1 January in Brussels
    person.locale = lang
    person.subscriptions[0].confirmed_at = aware(2026, 12, 31, 23, 30)
    db.session.commit()
    topic = db.session.scalar(select(Topic).where(Topic.slug == "offers"))
    campaign = campaigns.create_campaign("News", "Hello.", topic)
    campaigns.start_sending(campaign)
    db.session.commit()
    assert sending.send_pending("test-worker")["sent"] == 1
    [message] = outbox(ADDRESS)
    name = OFFERS[lang][0]
    day = {"nl": "1 januari 2027", "fr": "1 janvier 2027", "en": "January 1, 2027"}[lang]
    for part in (mail_text(message), mail_html(message)):
        assert name in part  # the reason line names the list in their language
        assert day in part
    assert f'<html lang="{lang}">' in mail_html(message)
    list_id = str(message["List-Id"])
    assert list_id.endswith("<offers.shop.example>") or "<offers." in list_id


# --- local time ----------------------------------------------------------------------------


def test_a_time_entered_in_brussels_summer_time_is_stored_utc_and_sent_at_that_hour(
    runner, tmp_path, make_subscriber, outbox
):
    make_subscriber(ADDRESS)
    body = tmp_path / "body.md"
    body.write_text("Hello.", encoding="utf-8")
    created = runner.invoke(
        args=["campaign", "create", "--subject", "Spring", "--body-file", str(body),
              "--topic", "newsletter"]
    )  # fmt: skip
    campaign_id = created.output.strip()
    # 28 March 2027 is the day summer time starts (02:00 -> 03:00): 09:00 is CEST, UTC+2.
    result = runner.invoke(args=["campaign", "schedule", campaign_id, "--at", "2027-03-28T09:00"])
    assert result.exit_code == 0, result.output
    assert "2027-03-28T07:00:00+00:00" in result.output
    assert "09:00 CEST" in result.output
    assert db.session.get(Campaign, int(campaign_id)).scheduled_at == aware(2027, 3, 28, 7, 0)

    early = runner.invoke(args=["jobs", "run-due", "--as-of", "2027-03-28T06:59:00+00:00"])
    assert json.loads(early.output)["start-scheduled-campaigns"] == 0
    assert outbox(ADDRESS) == []
    due = runner.invoke(args=["jobs", "run-due", "--as-of", "2027-03-28T07:00:00+00:00"])
    report = json.loads(due.output)
    assert report["start-scheduled-campaigns"] == 1
    assert report["sending"]["sent"] == 1
    assert len(outbox(ADDRESS)) == 1


def test_schedule_with_an_offset_is_taken_as_given(runner, make_campaign):
    campaign = make_campaign()
    at = "2027-01-10T09:00:00+00:00"
    assert runner.invoke(args=["campaign", "schedule", str(campaign.id), "--at", at]).exit_code == 0
    assert db.session.get(Campaign, campaign.id).scheduled_at == aware(2027, 1, 10, 9, 0)


def test_the_compose_page_schedules_and_shows_brussels_time(admin_client, make_campaign):
    campaign = make_campaign()
    url = f"/admin/campaigns/{campaign.id}"
    page = admin_client.get(url).text
    assert "Send at (Europe/Brussels time)" in page
    data = {
        "csrf_token": csrf(page),
        "subject": campaign.subject,
        "preheader": "",
        "topic": "newsletter",
        "body_markdown": campaign.body_markdown,
        "action": "schedule",
        "send_at": "2027-07-01T09:00",
    }
    saved = admin_client.post(url, data=data)
    assert saved.status_code == 302, saved.text
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).scheduled_at == aware(2027, 7, 1, 7, 0)
    page = admin_client.get(url).text
    assert "2027-07-01 09:00 CEST" in page
    assert 'value="2027-07-01T09:00"' in page  # the field shows it back in local time


def test_local_time_helper_handles_both_dst_changes(app):
    assert clock.from_local(datetime(2027, 3, 28, 1, 30)) == aware(2027, 3, 28, 0, 30)
    assert clock.from_local(datetime(2027, 3, 28, 3, 30)) == aware(2027, 3, 28, 1, 30)
    assert clock.from_local(datetime(2027, 10, 31, 12, 0)) == aware(2027, 10, 31, 11, 0)
    assert clock.local(datetime(2027, 7, 1, 7, 0, tzinfo=UTC)).hour == 9
    assert clock.format_local(aware(2027, 7, 1, 7, 0), "fr", "datetime") == "1 juillet 2027, 09:00"


# --- the subscriber's language -------------------------------------------------------------


@pytest.mark.parametrize(("start", "chosen"), [("nl", "fr"), ("fr", "en"), ("en", "nl")])
def test_subscriber_chooses_their_language_on_the_preferences_page(
    client, make_subscriber, start, chosen
):
    from newsletter import links

    person = make_subscriber(ADDRESS)
    person.locale = start
    db.session.commit()
    path = urlsplit(links.preferences_url(person.public_id)).path
    page = fresh(client).get(path).text
    assert html_lang(page) == start
    token = re.search(r'name="details-csrf_token" type="hidden" value="([^"]+)"', page)
    data = {"details-csrf_token": token.group(1), "details-name": "",
            "details-locale": chosen, "details-email": ""}  # fmt: skip
    saved = fresh(client).post(f"{path}/details", data=data)
    assert saved.status_code == 200, saved.text
    assert html_lang(saved.text) == chosen
    db.session.expire_all()
    assert db.session.get(Subscriber, person.id).locale == chosen
    assert html_lang(fresh(client).get(path).text) == chosen  # and it stays so


ERRORS = {
    404: {"nl": "Pagina niet gevonden", "fr": "Page introuvable", "en": "Page not found"},
    405: {"nl": "Hier niet mogelijk", "fr": "Pas possible ici", "en": "Not possible here"},
    429: {"nl": "Te veel pogingen", "fr": "Trop de tentatives", "en": "Too many attempts"},
    500: {
        "nl": "Er ging iets mis",
        "fr": "Une erreur s’est produite",
        "en": "Something went wrong",
    },
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_error_pages_are_in_the_visitor_language(app, client, lang):
    headers = {"Accept-Language": f"{lang}-BE,{lang};q=0.9"}
    app.config["LINK_RATE_LIMIT"] = "1 per minute"

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("test")

    not_found = fresh(client).get("/no-such-page", headers=headers)
    wrong_method = fresh(client).delete("/subscribe", headers=headers)
    for _ in range(2):
        limited = fresh(client).get("/confirm/not-a-token", headers=headers)
    broken = fresh(client).get("/boom-for-test", headers=headers)
    for response, code in ((not_found, 404), (wrong_method, 405), (limited, 429), (broken, 500)):
        assert response.status_code == code
        assert html_lang(response.text) == lang
        assert ERRORS[code][lang] in response.text.replace("&#39;", "'")


# --- the admin's language filter -----------------------------------------------------------


def test_admin_filters_subscribers_by_language(admin_client, make_subscriber):
    for code, address in (("nl", "jan@example.be"), ("fr", "marie@example.be"), ("en", ADDRESS)):
        person = make_subscriber(address)
        person.locale = code
    db.session.commit()
    page = admin_client.get("/admin/subscribers?language=fr").text
    assert "marie@example.be" in page
    assert "jan@example.be" not in page
    assert ADDRESS not in page
    assert '<option value="fr" selected>' in page
    everyone = admin_client.get("/admin/subscribers").text
    assert all(a in everyone for a in ("jan@example.be", "marie@example.be", ADDRESS))


def test_import_takes_a_language_per_row(runner, tmp_path):
    data = tmp_path / "people.csv"
    evidence = ",Yes send me the newsletter,https://shop.example/signup,double opt-in,shop export"
    data.write_text(
        "email,topics,consented_at,locale,consent_text,consent_where,consent_how,consent_system\n"
        f"jan@example.be,newsletter,2026-06-01,nl_BE{evidence}\n"
        f"marie@example.be,newsletter,2026-06-01,fr-be{evidence}\n"
        f"ann@example.org,newsletter,2026-06-01,EN{evidence}\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        args=["subscribers", "import", str(data), "--basis", "consent",
              "--source", "shop counter signup 2026", "--own-contacts"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    found = {s.email: s.locale for s in db.session.scalars(select(Subscriber))}
    assert found == {"jan@example.be": "nl", "marie@example.be": "fr", ADDRESS: "en"}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_reconsent_mail_and_page_date_and_name_the_lists_in_the_recipient_language(
    client, runner, make_subscriber, outbox, lang
):
    from tests.timetravel import run_job

    name = {"nl": "Nieuwsbrief", "fr": "Lettre d’information", "en": "Our letter"}[lang]
    runner.invoke(args=["topics", "translate", "newsletter", "--locale", lang, "--name", name])
    consented = aware(2026, 12, 31, 23, 30)  # already 1 January 2027 in Brussels
    person = make_subscriber(ADDRESS, consented_at=consented)
    person.locale = lang
    db.session.commit()
    run_job("reconsent-requests", aware(2028, 12, 31, 12, 0))
    [message] = [m for m in outbox(ADDRESS) if "/reconsent/" in mail_text(m)]
    day = {"nl": "1 januari 2027", "fr": "1 janvier 2027", "en": "January 1, 2027"}[lang]
    for part in (mail_text(message), mail_html(message)):
        assert day in part.replace("&#39;", "'")
        assert name in part.replace("&#39;", "'").replace("&rsquo;", "’")
    assert f'<html lang="{lang}">' in mail_html(message)
