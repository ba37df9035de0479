"""Issue 15 point 1 (and issue 16 point 7's campaign items): language versions of a
campaign. Each recipient gets the version in their language, else the default
language's, with the footer and dates in their own language; the CLI (create --locale,
translate, duplicate), and the admin (tabs, send confirmation per version, one-language
send, progress per language, duplicate, delete a draft, what was sent)."""

from __future__ import annotations

import json
import re

import pytest
from babel.dates import format_date
from sqlalchemy import func, select

from newsletter import campaign_versions, campaigns, clock, compliance
from newsletter.extensions import db
from newsletter.models import (
    AuditEntry,
    Campaign,
    CampaignStatus,
    CampaignVersion,
    Delivery,
)
from tests.helpers import mail_html, mail_text

PEOPLE = {"nl": "jan@example.be", "fr": "marie@example.be", "en": "ann@example.org"}
TEXTS = {
    "nl": ("Lentenieuws", "# Lente\n\nOnze **nieuwe collectie** is er."),
    "fr": ("Nouvelles du printemps", "# Printemps\n\nNotre **nouvelle collection** est là."),
    "en": ("Spring news", "# Spring\n\nOur **new collection** is here."),
}
# The footer's unsubscribe words and the start of the reason line, per language.
FOOTER = {
    "nl": ("Uitschrijven voor alle marketing", "U ontvangt deze e-mail omdat u zich inschreef"),
    "fr": ("Se désinscrire de tout marketing", "Vous recevez cet e-mail parce que vous vous"),
    "en": ("Unsubscribe from all marketing", "You receive this email because you subscribed"),
}


@pytest.fixture
def three_languages(make_subscriber):
    """One active, consenting subscriber per language."""
    people = {}
    for language, address in PEOPLE.items():
        people[language] = make_subscriber(address)
        people[language].locale = language
    db.session.commit()
    return people


def write_body(tmp_path, language: str, body: str) -> str:
    path = tmp_path / f"body-{language}.md"
    path.write_text(body, encoding="utf-8")
    return str(path)


def cli_create(runner, tmp_path, language: str | None = "nl") -> int:
    subject, body = TEXTS[language or "en"]
    args = ["campaign", "create", "--subject", subject, "--topic", "newsletter"]
    args += ["--body-file", write_body(tmp_path, language or "en", body)]
    if language:
        args += ["--locale", language]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    return int(result.output.strip())


def cli_translate(runner, tmp_path, campaign_id: int, language: str, spelling=None):
    subject, body = TEXTS[language]
    return runner.invoke(
        args=["campaign", "translate", str(campaign_id), "--locale", spelling or language,
              "--subject", subject, "--body-file", write_body(tmp_path, language, body)]
    )  # fmt: skip


def assert_footer_and_date_in(message, language: str, subscriber) -> None:
    """The footer, the consent date and the message's language are the recipient's."""
    unsubscribe_words, reason = FOOTER[language]
    confirmed = clock.local(subscriber.subscriptions[0].confirmed_at)  # the shop's day
    day = format_date(confirmed, format="long", locale=language)
    assert message["Content-Language"] == language
    for part in (mail_text(message), mail_html(message)):
        assert unsubscribe_words in part
        assert reason in part
        assert day in part
    assert compliance.check_marketing_message(message) == []


# --- over SMTP -----------------------------------------------------------------------------


class TestOverSmtp:
    @pytest.fixture
    def app_config(self, app_config, smtp_server):
        return {**app_config, **smtp_server.config()}

    def test_nl_fr_en_versions_reach_each_subscriber_in_theirs(
        self, runner, tmp_path, three_languages, smtp_server
    ):
        campaign_id = cli_create(runner, tmp_path, "nl")
        for language in ("fr", "en"):
            result = cli_translate(runner, tmp_path, campaign_id, language)
            assert result.exit_code == 0, result.output
        sent = runner.invoke(args=["campaign", "send", str(campaign_id), "--wait"])
        assert sent.exit_code == 0, sent.output
        assert json.loads(sent.output.strip().splitlines()[-1])["sent"] == 3
        by_address = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
        assert sorted(by_address) == sorted(PEOPLE.values())
        for language, address in PEOPLE.items():
            message = by_address[address]
            subject, _body = TEXTS[language]
            assert message["Subject"] == subject
            words = {"nl": "nieuwe collectie", "fr": "nouvelle collection", "en": "new collection"}
            assert words[language] in mail_text(message)
            assert f"<strong>{words[language]}</strong>" in mail_html(message)
            assert f'<html lang="{language}">' in mail_html(message)
            others = [w for code, w in words.items() if code != language]
            assert not any(w in mail_text(message) for w in others)
            assert_footer_and_date_in(message, language, three_languages[language])
        db.session.expire_all()
        locales = db.session.scalars(select(Delivery.locale).order_by(Delivery.locale)).all()
        assert locales == ["en", "fr", "nl"]

    def test_a_language_without_version_gets_the_default_one_with_its_own_footer(
        self, runner, tmp_path, three_languages, smtp_server
    ):
        campaign_id = cli_create(runner, tmp_path, None)  # English: the default language
        assert cli_translate(runner, tmp_path, campaign_id, "nl").exit_code == 0
        assert runner.invoke(args=["campaign", "send", str(campaign_id), "--wait"]).exit_code == 0
        by_address = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
        french = by_address[PEOPLE["fr"]]
        assert french["Subject"] == "Spring news"  # the default language's version
        assert "new collection" in mail_text(french)
        assert '<div lang="en">' in mail_html(french)  # the content is marked as English
        assert_footer_and_date_in(french, "fr", three_languages["fr"])  # footer stays French
        assert by_address[PEOPLE["nl"]]["Subject"] == "Lentenieuws"
        assert by_address[PEOPLE["en"]]["Subject"] == "Spring news"


# --- the command line ----------------------------------------------------------------------


def test_create_with_locale_translate_and_duplicate(runner, tmp_path):
    campaign_id = cli_create(runner, tmp_path, "fr")
    campaign = db.session.get(Campaign, campaign_id)
    assert (campaign.locale, campaign.subject) == ("fr", "Nouvelles du printemps")
    added = cli_translate(runner, tmp_path, campaign_id, "nl", spelling="nl_BE")
    assert added.exit_code == 0, added.output
    assert "nl version saved" in added.output
    TEXTS["nl"], kept = ("Nieuws (herzien)", "Nieuwe tekst."), TEXTS["nl"]
    try:
        assert cli_translate(runner, tmp_path, campaign_id, "nl").exit_code == 0
    finally:
        TEXTS["nl"] = kept
    db.session.expire_all()
    versions = campaign_versions.versions(db.session.get(Campaign, campaign_id))
    assert sorted(versions) == ["fr", "nl"]
    assert versions["nl"].subject == "Nieuws (herzien)"  # replaced, not added twice
    copied = runner.invoke(args=["campaign", "duplicate", str(campaign_id)])
    assert copied.exit_code == 0, copied.output
    copy = db.session.get(Campaign, int(copied.output.strip()))
    assert copy.status == CampaignStatus.DRAFT
    assert copy.id != campaign_id
    assert campaign_versions.versions(copy) == versions


def test_a_bad_locale_names_the_offered_languages(runner, tmp_path):
    subject, body = TEXTS["en"]
    result = runner.invoke(
        args=["campaign", "create", "--subject", subject, "--topic", "newsletter",
              "--body-file", write_body(tmp_path, "en", body), "--locale", "klingon"]
    )  # fmt: skip
    assert result.exit_code != 0
    assert "en, nl, fr" in result.output
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0
    campaign_id = cli_create(runner, tmp_path, "en")
    wrong = cli_translate(runner, tmp_path, campaign_id, "nl", spelling="de")
    assert wrong.exit_code != 0
    assert "Unknown language 'de'" in wrong.output
    assert db.session.scalar(select(func.count()).select_from(CampaignVersion)) == 0


def test_a_sent_campaign_cannot_be_translated(runner, tmp_path, make_subscriber):
    make_subscriber("a@example.org")
    campaign_id = cli_create(runner, tmp_path, "en")
    assert runner.invoke(args=["campaign", "send", str(campaign_id), "--wait"]).exit_code == 0
    late = cli_translate(runner, tmp_path, campaign_id, "nl")
    assert late.exit_code != 0
    assert "cannot be translated" in late.output
    status = json.loads(runner.invoke(args=["campaign", "status", str(campaign_id)]).output)
    assert status["status"] == "sent"
    assert status["languages"] == {"en": {"total": 1, "sent": 1, "failed": 0, "waiting": 0}}


# --- the admin (CSRF on) -------------------------------------------------------------------


class TestAdmin:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    @staticmethod
    def token(page_text: str) -> str:
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page_text).group(1)

    def compose(self, admin_client, **fields):
        token = self.token(admin_client.get("/admin/campaigns/new").text)
        data = {"topic": "newsletter", "csrf_token": token, **fields}
        return admin_client.post("/admin/campaigns/new", data=data)

    def two_versions(self, admin_client) -> Campaign:
        response = self.compose(
            admin_client,
            subject="Spring news",
            body_markdown="Our **new collection**.",
            subject_nl="Lentenieuws",
            body_nl="Onze **nieuwe collectie**.",
            preheader_nl="Tien nieuwe producten",
        )
        assert response.status_code == 302, response.text
        return db.session.scalar(select(Campaign).order_by(Campaign.id.desc()))

    def test_compose_shows_a_tab_per_language_and_saves_the_versions(self, admin_client):
        page = admin_client.get("/admin/campaigns/new").text
        for name in ("English (default)", "Nederlands", "Français"):
            assert name in page
        assert page.count('role="tabpanel"') == 3
        campaign = self.two_versions(admin_client)
        versions = campaign_versions.versions(campaign)
        assert sorted(versions) == ["en", "nl"]
        assert versions["nl"].preheader == "Tien nieuwe producten"
        edit = admin_client.get(f"/admin/campaigns/{campaign.id}").text
        assert "Lentenieuws" in edit
        assert "Onze **nieuwe collectie**." in edit
        incomplete = self.compose(admin_client, subject="Hi", body_markdown="x", subject_fr="Salut")
        assert incomplete.status_code == 400
        assert "The body cannot be empty." in incomplete.text
        assert db.session.scalar(select(func.count()).select_from(Campaign)) == 1

    def test_the_preview_shows_the_version_of_the_tab(self, admin_client):
        token = self.token(admin_client.get("/admin/campaigns/new").text)
        data = {
            "csrf_token": token, "topic": "newsletter", "sample": "",
            "subject": "Spring news", "body_markdown": "Our **new collection**.",
            "subject_nl": "Lentenieuws", "body_nl": "Onze **nieuwe collectie**.",
        }  # fmt: skip
        dutch = admin_client.post("/admin/campaigns/preview", data={**data, "version": "nl"}).json
        assert (dutch["version"], dutch["language"]) == ("nl", "nl")
        assert "<strong>nieuwe collectie</strong>" in dutch["html"]
        assert FOOTER["nl"][0] in dutch["text"]
        assert dutch["problems"] == []
        french = admin_client.post("/admin/campaigns/preview", data={**data, "version": "fr"}).json
        assert (french["version"], french["language"]) == ("en", "fr")  # the fallback
        assert "new collection" in french["text"]
        assert FOOTER["fr"][0] in french["text"]

    def test_the_send_confirmation_counts_each_version_and_warns_of_a_missing_one(
        self, admin_client, three_languages
    ):
        campaign = self.two_versions(admin_client)
        page = admin_client.get(f"/admin/campaigns/{campaign.id}/send").text
        assert "Send to 3 people" in page
        audience = page[
            page.index('id="audience"') : page.index("</table>", page.index('id="audience"'))
        ]
        assert re.search(r"Nederlands</td><td class=\"num\">1</td>\s*<td>Nederlands", audience)
        assert re.search(r"Français</td><td class=\"num\">1</td>\s*<td>English", audience)
        assert 'id="missing-versions"' in page
        assert "whose language is Français</strong> will get the English version" in page

    def test_send_to_one_language_only_and_progress_per_language(
        self, admin_client, three_languages
    ):
        campaign = self.two_versions(admin_client)
        page = admin_client.get(f"/admin/campaigns/{campaign.id}/send?only=nl").text
        assert "Send to 1 person (Nederlands only)" in page
        response = admin_client.post(
            f"/admin/campaigns/{campaign.id}/send",
            data={"csrf_token": self.token(page), "only_locale": "nl"},
        )
        assert response.status_code == 302, response.text
        db.session.expire_all()
        recipients = db.session.scalars(select(Delivery.locale)).all()
        assert recipients == ["nl"]
        entry = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "campaign.send")
        ).one()
        assert entry.detail == {"total": 1, "only_locale": "nl"}
        progress = admin_client.get(f"/admin/campaigns/{campaign.id}/progress").text
        assert 'id="by-language"' in progress
        assert "Sent only to subscribers whose language is Nederlands" in progress
        row = re.search(r'<tr data-language="nl">(.*?)</tr>', progress, re.S).group(1)
        assert 'data-count="total">1<' in row
        assert 'data-count="waiting">1<' in row
        status = admin_client.get(f"/admin/campaigns/{campaign.id}/status.json").json
        assert status["languages"]["nl"]["total"] == 1

    def test_duplicate_delete_a_draft_and_see_what_was_sent(self, admin_client, three_languages):
        campaign = self.two_versions(admin_client)
        listing = admin_client.get("/admin/campaigns").text
        copied = admin_client.post(
            f"/admin/campaigns/{campaign.id}/duplicate", data={"csrf_token": self.token(listing)}
        )
        assert copied.status_code == 302
        copy = db.session.scalar(select(Campaign).order_by(Campaign.id.desc()))
        assert copy.id != campaign.id
        assert campaign_versions.versions(copy) == campaign_versions.versions(campaign)
        forged = admin_client.post(f"/admin/campaigns/{copy.id}/delete")
        assert forged.status_code == 400  # no CSRF token: refused
        ask = admin_client.get(f"/admin/campaigns/{copy.id}/delete")
        assert "Delete the draft" in ask.text
        assert "Nederlands" in ask.text
        assert db.session.get(Campaign, copy.id) is not None  # asking deletes nothing
        gone = admin_client.post(
            f"/admin/campaigns/{copy.id}/delete", data={"csrf_token": self.token(ask.text)}
        )
        assert gone.status_code == 302
        db.session.expire_all()
        assert db.session.get(Campaign, copy.id) is None
        assert db.session.scalar(select(func.count()).select_from(CampaignVersion)) == 1
        campaigns.start_sending(campaign)
        db.session.commit()
        refused = admin_client.get(f"/admin/campaigns/{campaign.id}/delete", follow_redirects=True)
        assert "only drafts can be deleted" in refused.text
        assert db.session.get(Campaign, campaign.id) is not None
        sent = admin_client.get(f"/admin/campaigns/{campaign.id}/content").text
        assert "Lentenieuws" in sent
        assert "Spring news" in sent
        assert 'id="version-nl"' in sent
        assert 'id="version-en"' in sent
        assert "No version in Français" in sent


# --- the migration -------------------------------------------------------------------------


def test_migration_0010_makes_an_existing_campaign_its_default_language_version(
    empty_database_url,
):
    from datetime import datetime
    from pathlib import Path

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from newsletter import create_app

    migrations = str(Path(__file__).resolve().parents[1] / "migrations")
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": empty_database_url,
         "AUTO_UPGRADE_SQLITE": False}
    )  # fmt: skip
    columns = ("id", "subject", "preheader", "body_markdown", "topic_id", "status")
    columns += ("created_at", "created_by", "stats")
    with app.app_context():
        upgrade(directory=migrations, revision="0009")
        topic_id = db.session.scalar(sa.text("SELECT id FROM topic"))
        row = dict(zip(columns, (1, "Old news", "", "Hello", topic_id, "sent"), strict=False))
        row |= {"created_at": datetime(2025, 3, 1), "created_by": "", "stats": "{}"}
        with db.engine.begin() as connection:
            connection.execute(sa.table("campaign", *map(sa.column, columns)).insert(), [row])
        upgrade(directory=migrations)
        db.session.remove()
        campaign = db.session.get(Campaign, 1)
        assert campaign.locale == "en"
        version = campaign_versions.version_for(campaign, "nl")
        assert (version.locale, version.subject, version.body_markdown) == (
            "en",
            "Old news",
            "Hello",
        )
        db.session.remove()
        db.engine.dispose()
