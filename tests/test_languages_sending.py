"""Issue 12: a campaign reaches Dutch, French and English subscribers, through a real SMTP
server and on the embedded default (the built-in outbox, BASE_URL http://127.0.0.1:5000).

Rule 4 reads the footer in the recipient's language; preview, test send and send run the
same check; a message that cannot be built fails alone; locales are normalised where
they enter and in the rows already stored; Date and To headers as RFC 5322 / 2047 say.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path

import pytest
import sqlalchemy as sa
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import select

from newsletter import (
    campaigns,
    compliance,
    create_app,
    i18n,
    imports,
    messages,
    sending,
    subscriptions,
)
from newsletter.extensions import db
from newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    Subscription,
)
from tests.helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    mail_html,
    mail_text,
    shown_consent_text_id,
)
from tests.test_migrations import MIGRATIONS

ROOT = Path(__file__).resolve().parents[1]
# What a reader sees of the footer in each language: the unsubscribe link's words and the
# start of the "why you get this" line (from the translation catalogues).
FOOTER = {
    "nl": ("Uitschrijven voor alle marketing", "U ontvangt deze e-mail omdat u zich inschreef"),
    "fr": ("Se désinscrire de tout marketing", "Vous recevez cet e-mail parce que vous vous"),
    "en": ("Unsubscribe from all marketing", "You receive this email because you subscribed"),
}
PEOPLE = {"nl": "jan@example.be", "fr": "marie@example.be", "en": "ann@example.org"}
# What an admin's test send says instead (no claim of consent: it is a test).
TEST_FOOTER = {
    "nl": "Dit is een testbericht dat een beheerder van Demo Shop stuurde",
    "fr": "Ceci est un message de test envoyé par un administrateur de Demo Shop",
    "en": "This is a test message sent by an administrator of Demo Shop",
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


def send_campaign(campaign: Campaign, **kwargs) -> dict:
    campaigns.start_sending(campaign)
    db.session.commit()
    return sending.send_pending("test-worker", **kwargs)


def assert_in_language(message, language: str) -> None:
    """A received message carries its language's footer, in both parts, and passes rule 4."""
    unsubscribe_words, reason = FOOTER[language]
    assert message["Content-Language"] == language
    assert f'<html lang="{language}">' in mail_html(message)
    for part in (mail_text(message), mail_html(message)):
        assert unsubscribe_words in part
        assert reason in part
    assert compliance.check_marketing_message(message) == []


def assert_test_in_language(message, language: str) -> None:
    """A received test send has its language's footer, the test's reason line instead of
    a claim of consent, in both parts, and passes the test send's own check."""
    unsubscribe_words, reason = FOOTER[language]
    assert message["Content-Language"] == language
    assert f'<html lang="{language}">' in mail_html(message)
    for part in (mail_text(message), mail_html(message)):
        assert unsubscribe_words in part
        assert TEST_FOOTER[language] in part
        assert reason not in part
    assert compliance.check_test_message(message) == []


def use_layout(app, tmp_path, html=None, text=None) -> None:
    """Serve changed email layouts, as an operator who overrides templates/email would."""
    folder = tmp_path / "layouts" / "email"
    folder.mkdir(parents=True)
    for name, change in (("layout.html", html), ("layout.txt", text)):
        original = (ROOT / "templates" / "email" / name).read_text()
        (folder / name).write_text(change(original) if change else original)
    app.jinja_env.loader = ChoiceLoader([FileSystemLoader(tmp_path / "layouts"), app.jinja_loader])


# --- every language is sent ----------------------------------------------------------------


class TestRealSmtpServer:
    @pytest.fixture
    def app_config(self, app_config, smtp_server):
        # An https BASE_URL and a real SMTP server on loopback: the production shape.
        return {**app_config, **smtp_server.config()}

    def test_campaign_reaches_nl_fr_and_en_subscribers_each_in_their_language(
        self, client, make_campaign, three_languages, smtp_server
    ):
        counts = send_campaign(make_campaign(subject="Nieuws / Nouvelles / News"))
        assert counts == {"batches": 1, "sent": 3}
        by_address = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
        assert sorted(by_address) == sorted(PEOPLE.values())
        for language, address in PEOPLE.items():
            assert_in_language(by_address[address], language)
        # The one-click link of the Dutch mail works (RFC 8058): Jan is gone.
        link = re.search(
            r"<(https://[^>]+/unsubscribe/[^>]+)>", by_address[PEOPLE["nl"]]["List-Unsubscribe"]
        )
        path = link.group(1).removeprefix("https://news.example.test")
        answer = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200
        assert db.session.scalar(select(Subscriber).where(Subscriber.email == PEOPLE["nl"])) is None

    def test_rule_4_every_message_the_senders_check_passes_at_once_passes_the_whole_check(
        self, make_campaign, make_subscriber, smtp_server, monkeypatch
    ):
        """The sender's rule-4 check (`compliance.PreparedMessagesCheck`) makes the whole
        check on the first message of each language and lets the others through at once
        as that skeleton with their own values; each of them, parsed whole on arrival,
        passes the whole check too. Four people a language: a name, none, one that looks
        like HTML, one with an accent; the greeting is in the subject and the body."""
        names = ["Jan", None, "<b>Bo</b> & co", "Zoë"]
        for language in ("nl", "fr", "en"):
            for number, name in enumerate(names):
                make_subscriber(f"{language}{number}@example.be", name=name).locale = language
        # One day for all (not "now", which may fall on both sides of midnight).
        one_day = datetime(2026, 3, 2, 12, tzinfo=UTC)
        db.session.execute(sa.update(Subscription).values(confirmed_at=one_day))
        db.session.commit()
        whole = []
        real = compliance.check_marketing_parts
        monkeypatch.setattr(
            compliance, "check_marketing_parts", lambda *parts: whole.append(1) or real(*parts)
        )
        campaign = make_campaign(subject="Hi {{ name|friend }}", body="Dear {{ name|friend }},")
        assert send_campaign(campaign) == {"batches": 1, "sent": 12}
        assert len(whole) == 3  # the first message of each language; the 9 others at once
        received = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
        assert len(received) == 12
        for address, message in received.items():
            assert_in_language(message, address[:2])  # check_marketing_message, whole
        subjects = {str(make_header(decode_header(m["Subject"]))) for m in received.values()}
        assert subjects == {"Hi Jan", "Hi friend", "Hi <b>Bo</b> & co", "Hi Zoë"}
        html = mail_html(received["en2@example.be"])
        assert "Dear &lt;b&gt;Bo&lt;/b&gt; &amp; co," in html

    def test_date_header_has_a_numeric_zone(self, make_campaign, three_languages, smtp_server):
        send_campaign(make_campaign())
        for received in smtp_server.messages:
            date = received.message["Date"]
            assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", date), date
            assert b"GMT" not in received.raw.split(b"\r\n\r\n")[0]


class TestEmbeddedDefault:
    @pytest.fixture
    def app_config(self, app_config):
        # README's run command: the default BASE_URL (http://127.0.0.1:5000) and no SMTP
        # server, so mail goes to the built-in outbox. Nothing here is relaxed.
        config = {**app_config, "WTF_CSRF_ENABLED": True}
        del config["BASE_URL"]
        return config

    def test_default_base_url_is_loopback_http(self, app):
        assert app.config["BASE_URL"] == "http://127.0.0.1:5000"

    def test_campaign_lands_in_the_outbox_in_each_language(
        self, make_campaign, three_languages, outbox
    ):
        counts = send_campaign(make_campaign())
        assert counts == {"batches": 1, "sent": 3}
        for language, address in PEOPLE.items():
            [message] = outbox(address)
            assert_in_language(message, language)
            assert "<http://127.0.0.1:5000/unsubscribe/" in message["List-Unsubscribe"]

    def test_admin_test_sends_as_a_language_and_as_a_subscriber_with_csrf_on(
        self, client, admin_user, three_languages, outbox
    ):
        page = client.get("/admin/login").text
        login = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": csrf(page)}
        assert client.post("/admin/login", data=login).status_code == 302
        form = {
            "subject": "Lente",
            "body_markdown": "Hallo!",
            "topic": "newsletter",
            "test_address": "boss@shop.example",
            "action": "test",
            "csrf_token": csrf(client.get("/admin/campaigns/new").text),
        }
        answer = client.post("/admin/campaigns/new", data={**form, "sample": "lang:nl"})
        assert answer.status_code == 302, answer.text
        campaign_url = answer.headers["Location"].split("?")[0]
        [dutch] = outbox("boss@shop.example")
        assert dutch["Subject"] == "[TEST] Lente"
        assert_test_in_language(dutch, "nl")
        marie = three_languages["fr"]
        answer = client.post(campaign_url, data={**form, "sample": marie.public_id})
        assert answer.status_code == 302, answer.text
        french = outbox("boss@shop.example")[-1]
        assert_test_in_language(french, "fr")
        assert marie.email not in french.as_string()  # her footer, not her address or links
        preview = client.post(
            "/admin/campaigns/preview",
            data={**form, "sample": "lang:fr"},
            headers={"X-CSRFToken": form["csrf_token"]},
        ).json
        assert (preview["language"], preview["problems"]) == ("fr", [])
        assert FOOTER["fr"][1] in preview["text"]


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


# --- rule 4 in every language ----------------------------------------------------------------


def test_footer_reason_phrases_are_each_languages_own(app):
    """The check looks for the reason line's own words in each language (one phrase per
    basis: consent, existing customer), never for the English sentence."""
    consent = {lang: compliance.footer_reason_phrases(lang)[0] for lang in FOOTER}
    assert consent == {
        "nl": "U ontvangt deze e-mail omdat u zich inschreef op \u201c",
        "fr": "Vous recevez cet e-mail parce que vous vous êtes inscrit à «",
        "en": "You receive this email because you subscribed to \u201c",
    }
    customer = compliance.footer_reason_phrases("nl")[1]
    assert "eigen soortgelijke producten" in customer


@pytest.mark.parametrize("language", ["nl", "fr", "en"])
def test_check_marketing_message_refuses_a_removed_footer_reason_in_each_language(
    app, make_campaign, language
):
    """The footer's reason line gone from the text part: refused, whatever sentence the
    author typed (since issue 13 the footer is the system's, so only a message changed
    after it was built can lose it)."""
    campaign = make_campaign(body="You receive this email because you are great.")
    prepared = messages.prepare(campaign, locale=language)
    built = prepared.compose(messages.sample_recipient(language))
    reason = prepared.reason(messages.sample_recipient(language))
    problems = compliance.check_marketing_parts(
        built.head, built.text.replace(reason, ""), built.page
    )
    assert problems == [
        f"the text part does not say, in the recipient's language ({language}), why the "
        f"person receives it: {compliance._FOOTER} (SPEC rule 4, GBA 19/2021)",
        f"the system footer of the text part has no reason line in {language} (why the person "
        f"receives it): {compliance._FOOTER} (SPEC rule 4, GBA 19/2021)",
    ]


@pytest.mark.parametrize("language", ["nl", "fr", "en"])
def test_check_marketing_message_refuses_a_hidden_footer_in_each_language(
    app, tmp_path, make_campaign, language
):
    use_layout(app, tmp_path, html=lambda t: t.replace("<body>", '<body style="display:none">'))
    problems = campaigns.message_problems(make_campaign(), language)
    assert [p.split(",")[0] for p in problems] == ["the layout styles <body> with display:none"]
    assert "in templates/email/layout.html, give <html> and <body> only margin" in problems[0]


def test_a_visible_footer_passes_in_each_language(make_campaign):
    campaign = make_campaign()
    assert {lang: campaigns.message_problems(campaign, lang) for lang in FOOTER} == {
        "nl": [],
        "fr": [],
        "en": [],
    }


def test_preview_test_send_and_send_refuse_the_same_in_each_language(
    app, tmp_path, make_campaign, three_languages, outbox
):
    campaign = make_campaign()
    use_layout(app, tmp_path, html=lambda t: t.replace("<body>", '<body style="font-size:1px">'))
    with pytest.raises(campaigns.CampaignError) as refused:
        campaigns.start_sending(campaign)
    db.session.rollback()
    for language, person in three_languages.items():
        shown = campaigns.preview_message(campaign, person)
        assert shown.language == language
        [problem] = shown.problems
        assert problem.startswith("the layout styles <body> with font-size:1px")
        assert f"{i18n.LANGUAGES[language]} ({language}): {problem}" in str(refused.value)
        assert campaigns.preview_message(campaign, None, language).problems == [problem]
        with pytest.raises(campaigns.CampaignError, match=re.escape(problem)):
            campaigns.send_test(campaign, "boss@shop.example", language=language)
        with pytest.raises(campaigns.CampaignError, match=re.escape(problem)):
            campaigns.send_test(campaign, "boss@shop.example", subscriber=person)
    db.session.commit()
    assert outbox() == []
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT


def test_the_sender_refuses_a_footer_lost_after_the_start_in_each_language(
    app, tmp_path, make_campaign, three_languages
):
    campaigns.start_sending(make_campaign())
    db.session.commit()
    use_layout(app, tmp_path, html=lambda t: t.replace("<body>", '<body style="color:#fff">'))
    counts = sending.send_pending("test-worker")
    assert counts == {"batches": 1, "failed": 3}
    errors = db.session.execute(select(Subscriber.locale, Delivery.last_error).join(Delivery)).all()
    assert sorted(language for language, _error in errors) == ["en", "fr", "nl"]
    for _language, error in errors:
        assert error.startswith("refused: the layout styles <body> with color:#fff")


# --- https, and the loopback exception ---------------------------------------------------


def test_opt_out_link_allowed(app):
    app.config["BASE_URL"] = "https://news.example.test"
    assert compliance.opt_out_link_allowed("https://news.example.test/unsubscribe/t")
    assert not compliance.opt_out_link_allowed("http://news.example.test/unsubscribe/t")
    assert not compliance.opt_out_link_allowed("http://127.0.0.1:5000/unsubscribe/t")
    for base in ("http://127.0.0.1:5000", "http://localhost:8000", "http://[::1]:5000"):
        app.config["BASE_URL"] = base
        assert compliance.opt_out_link_allowed(base + "/unsubscribe/t")
        assert not compliance.opt_out_link_allowed("http://news.example.test/unsubscribe/t")
        assert not compliance.opt_out_link_allowed("ftp://127.0.0.1/unsubscribe/t")


class TestNonLoopbackHttpBaseUrl:
    @pytest.fixture
    def app_config(self, app_config):
        # The built-in outbox (no SMTP server: with one, the app would not even start).
        return {**app_config, "BASE_URL": "http://news.example.test"}

    def test_send_is_refused_in_plain_words(self, make_campaign, three_languages):
        campaign = make_campaign()
        with pytest.raises(campaigns.CampaignError) as refused:
            campaigns.start_sending(campaign)
        reason = str(refused.value)
        assert (
            "set NEWSLETTER_BASE_URL to the public https address of this site "
            "(now http://news.example.test); plain http is only for a loopback address"
        ) in reason
        assert "RFC 8058" in reason  # the source follows the advice
        db.session.rollback()
        for language in FOOTER:
            problems = campaigns.preview_message(campaign, None, language).problems
            assert any("set NEWSLETTER_BASE_URL" in p for p in problems)


# --- failure isolation ---------------------------------------------------------------------


def test_a_stored_nl_BE_locale_does_not_stall_the_batch_and_is_sent_in_dutch(
    make_campaign, make_subscriber, outbox
):
    ann, jan, marie = (make_subscriber(a) for a in ("ann@example.org", "jan@example.be", "m@x.be"))
    jan.locale, marie.locale = "nl-BE", "fr"  # as imports stored it before issue 12
    db.session.commit()
    counts = send_campaign(make_campaign(), batch_size=10)
    assert counts == {"batches": 1, "sent": 3}
    [dutch] = outbox("jan@example.be")
    assert_in_language(dutch, "nl")


def test_a_message_that_cannot_be_built_fails_alone_with_its_reason(
    make_campaign, make_subscriber, outbox, monkeypatch
):
    for address in ("a@example.org", "b@example.org", "c@example.org"):
        make_subscriber(address)
    compose = messages.PreparedCampaign.compose

    def compose_failing_for_b(self, recipient, unique=None):
        if recipient.email == "b@example.org":
            raise ValueError("expected only letters, got 'nl-be'")
        return compose(self, recipient, unique)

    monkeypatch.setattr(messages.PreparedCampaign, "compose", compose_failing_for_b)
    campaign = make_campaign()
    assert send_campaign(campaign, batch_size=10) == {"batches": 1, "sent": 2, "failed": 1}
    assert sorted(str(m["To"]) for m in outbox()) == ["a@example.org", "c@example.org"]
    failed = db.session.scalar(select(Delivery).where(Delivery.status == DeliveryStatus.FAILED))
    assert failed.last_error == (
        "refused: the message could not be built (ValueError: expected only letters, got "
        "'nl-be'); see the worker's log"
    )
    assert failed.claimed_by is None  # not left to a lease that would claim it again
    assert sending.send_pending("test-worker") == {"batches": 0}
    assert campaigns.campaign_status(campaign)["status"] == CampaignStatus.SENT


def test_a_language_that_cannot_be_prepared_fails_only_its_recipients(
    make_campaign, three_languages, outbox, monkeypatch
):
    prepare = messages.prepare

    def prepare_failing_in_french(campaign, subject_prefix="", locale="en"):
        if locale == "fr" and campaign.status == CampaignStatus.SENDING:
            raise ValueError("unknown locale 'fr'")
        return prepare(campaign, subject_prefix, locale)

    monkeypatch.setattr(messages, "prepare", prepare_failing_in_french)
    assert send_campaign(make_campaign(), batch_size=10) == {"batches": 1, "sent": 2, "failed": 1}
    assert outbox(PEOPLE["fr"]) == []
    error = db.session.scalar(select(Delivery.last_error).where(Delivery.status == "failed"))
    assert error.startswith("refused: the message could not be built (ValueError: unknown locale")


def test_an_address_that_cannot_be_written_is_an_app_refusal(make_campaign, make_subscriber):
    make_subscriber("ok@example.org")
    odd = make_subscriber("odd@example.org")
    odd.email = "odd person@example.org"  # as an old row might hold it
    db.session.commit()
    assert send_campaign(make_campaign()) == {"batches": 1, "sent": 1, "failed": 1}
    error = db.session.scalar(select(Delivery.last_error).where(Delivery.status == "failed"))
    assert error.startswith("refused: the address cannot be written into a mail header")


# --- locales normalised where they enter -------------------------------------------------


@pytest.mark.parametrize(
    ("written", "language"),
    [
        ("nl_BE", "nl"),
        ("nl-be", "nl"),
        ("NL", "nl"),
        ("fr-BE", "fr"),
        ("fr_be.UTF-8", "fr"),
        ("en_GB", "en"),
        (" en ", "en"),
        ("de", None),
        ("english please", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_locale(written, language):
    assert i18n.normalize_locale(written) == language


def test_import_stores_a_supported_language(app):
    # Each row carries the consent evidence an import requires (docs/IMPORTS.md).
    evidence = "Yes to the newsletter,old site form,double opt-in,Mailchimp export 2025"
    header = "email,topics,consented_at,consent_text,consent_where,consent_how,consent_system"
    csv_text = f"{header},locale\n" + "".join(
        f"{address},newsletter,2025-06-01,{evidence},{locale}\n"
        for address, locale in (
            ("a@example.org", "nl_BE"),
            ("b@example.org", "FR-be"),
            ("c@example.org", "NL"),
            ("d@example.org", "de"),
            ("e@example.org", "english please"),
        )
    )
    report = imports.import_csv(io.StringIO(csv_text), "consent", "shop checkout 2025", True)
    db.session.commit()
    stored = dict(db.session.execute(select(Subscriber.email, Subscriber.locale)).all())
    assert stored == {
        "a@example.org": "nl",
        "b@example.org": "fr",
        "c@example.org": "nl",
        "d@example.org": "en",  # a language we have no catalogue for: the default one
    }
    [skipped] = list(report.skipped)
    assert "invalid locale 'english please'" in skipped.reason


def test_signup_stores_a_supported_language(app, outbox):
    subscriptions.request_signup(
        "jan@example.be",
        ["newsletter"],
        True,
        subscriptions.current_consent_text("nl").id,  # the text a Dutch page shows
        subscriptions.Evidence(source="test", ip="192.0.2.1", user_agent="test"),
        locale="nl_BE",
    )
    db.session.commit()
    jan = db.session.scalar(select(Subscriber).where(Subscriber.email == "jan@example.be"))
    assert jan.locale == "nl"
    [confirmation] = outbox("jan@example.be")
    assert "Bevestig" in mail_text(confirmation) or "bevestig" in mail_text(confirmation)


def test_signup_form_with_a_regional_browser_language_is_stored_as_the_language(app, client):
    app.config["WTF_CSRF_ENABLED"] = True  # as people run it
    french = {"Accept-Language": "fr-BE,fr;q=0.9"}
    page = client.get("/subscribe", headers=french).text
    answer = client.post(
        "/subscribe",
        data={
            "email": "m@example.be",
            "topics": ["newsletter"],
            "consent": "y",
            "csrf_token": csrf(page),
            "consent_text_id": shown_consent_text_id(page),  # the French text it shows
        },
        headers=french,
    )
    assert answer.status_code == 200, answer.text
    assert db.session.scalar(select(Subscriber.locale)) == "fr"


# --- the rows already stored: migration 0002 ---------------------------------------------


def test_migration_0002_normalises_stored_locales(empty_database_url):
    from flask_migrate import upgrade

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "k",
            "SQLALCHEMY_DATABASE_URI": empty_database_url,
            "AUTO_UPGRADE_SQLITE": False,
        }
    )
    written = ["nl-BE", "fr_BE", "NL", "en", "de", "nl", "??"]
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0001")
        table = sa.table(
            "subscriber",
            *(
                sa.column(c)
                for c in ("public_id", "email", "locale", "status", "source", "created_at")
            ),
        )
        now = datetime(2026, 1, 1)
        rows = [
            {
                "public_id": f"p{i}",
                "email": f"s{i}@example.org",
                "locale": value,
                "status": "active",
                "source": "import",
                "created_at": now,
            }
            for i, value in enumerate(written)
        ]
        with db.engine.begin() as connection:
            connection.execute(table.insert(), rows)
        upgrade(directory=MIGRATIONS)
        stored = dict(db.session.execute(sa.text("SELECT email, locale FROM subscriber")).all())
        assert [stored[f"s{i}@example.org"] for i in range(len(written))] == [
            "nl",
            "fr",
            "nl",
            "en",
            "en",
            "nl",
            "en",
        ]
        db.session.remove()
        db.engine.dispose()


# --- headers: To and From display names ------------------------------------------------------


def built_message(make_campaign, name: str):
    prepared = messages.prepare(make_campaign())
    recipient = messages.Recipient("to@example.org", name, "pid", "consent", None)
    raw = prepared.compose(recipient).raw
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


def header_lines(raw: bytes, name: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n")[0].split(b"\r\n")
    start = next(i for i, line in enumerate(head) if line.startswith(name + b":"))
    end = next((i for i in range(start + 1, len(head)) if head[i][:1] not in b" \t"), len(head))
    return head[start:end]


def test_to_name_that_looks_like_an_encoded_word_is_encoded(make_campaign):
    raw, parsed = built_message(make_campaign, "=?utf-8?q?x?=")
    assert b"To: =?utf-8?q?x?=" not in raw  # not raw: a mail client would show "x"
    assert parsed["To"].addresses[0].display_name == "=?utf-8?q?x?="
    assert email.message_from_bytes(raw, policy=email.policy.compat32)["To"].startswith(
        "=?utf-8?b?"
    )


def test_to_name_with_specials_is_quoted(make_campaign):
    raw, parsed = built_message(make_campaign, 'Doe, "Jr" \\ <x>')
    assert parsed["To"].addresses[0].display_name == 'Doe, "Jr" \\ <x>'
    assert parsed["To"].addresses[0].addr_spec == "to@example.org"


def test_long_non_ascii_to_name_is_several_folded_encoded_words(make_campaign):
    name = ("Zoë Ünïcode-Ørsted " * 11).strip()[:200]
    raw, parsed = built_message(make_campaign, name)
    lines = header_lines(raw, b"To")
    words = re.findall(rb"=\?utf-8\?[bq]\?[^?]*\?=", b"".join(lines))
    assert len(words) > 1
    assert max(len(w) for w in words) <= 75
    assert max(len(line) for line in lines) <= 78
    phrase = b"".join(lines).decode("ascii").removeprefix("To: ").rsplit(" <", 1)[0]
    assert str(make_header(decode_header(phrase))) == name  # RFC 2047 §6.2 decoding
    # Python's address parser adds a space between encoded-words; words end at spaces,
    # so its reading differs from the name by doubled spaces only.
    assert " ".join(parsed["To"].addresses[0].display_name.split()) == name
    assert compliance.check_marketing_message(raw) == []


def test_long_ascii_to_name_is_folded(make_campaign):
    name = " ".join(["Bartholomew"] * 16)
    raw, parsed = built_message(make_campaign, name)
    assert max(len(line) for line in header_lines(raw, b"To")) <= 78
    assert parsed["To"].addresses[0].display_name == name


def test_from_name_is_quoted_and_encoded_too(app, make_campaign):
    app.config["MAIL_DEFAULT_SENDER"] = ('Démo Shop, "Brussels"', "news@shop.example")
    raw, parsed = built_message(make_campaign, "Ann")
    assert parsed["From"].addresses[0].display_name == 'Démo Shop, "Brussels"'
    assert parsed["To"].addresses[0].display_name == "Ann"
