"""Issue 13, problem 7: the notice and the plumbing.

The privacy notice names the recipients, processors, transfers, the DPO and a privacy
contact from the configuration, and shows periods in years and months in the reader's
language; the operator is warned (dashboard, `flask worker` and `flask run` logs) when
the List-Unsubscribe mailto is read by nothing, or the privacy contact is a noreply@.

These tests run with CSRF on (the fixture below) and otherwise the suite's defaults.
"""

from __future__ import annotations

import html
import re

import pytest

from newsletter import compliance, periods, tokens
from newsletter.clock import utcnow
from newsletter.extensions import db
from tests.flask_process import clean_env, flask, wait_for, wait_until_serving
from tests.helpers import free_port
from tests.live import browser_page, serve

PROCESSORS = [
    {"name": "Mailjet SAS", "purpose": "sends our newsletter", "country": "FR"},
    {
        "name": "Postmark Inc.",
        "purpose": "delivers the confirmation mails",
        "country": "US",
        "safeguard": "the Commission's standard contractual clauses (2021/914)",
    },
    {"name": "Nuvem Ltda", "purpose": "keeps backups", "country": "Brazil"},
]


@pytest.fixture
def app_config(app_config):
    # As people run it: CSRF on.
    return {**app_config, "WTF_CSRF_ENABLED": True}


def text_of(response) -> str:
    """The visible text, tags removed, all whitespace (no-break spaces too) collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def section(page: str, heading: str, next_heading: str) -> str:
    return page[page.index(heading) : page.index(next_heading)]


# --- periods in years and months, in the reader's language ---------------------------

PERIOD_WORDS = [
    # days, en, nl, fr
    (1826, "5 years", "5 jaar", "5 ans"),
    (730, "2 years", "2 jaar", "2 ans"),
    (365, "1 year", "1 jaar", "1 an"),
    (548, "1 year and 6 months", "1 jaar en 6 maanden", "1 an et 6 mois"),
    (90, "3 months", "3 maanden", "3 mois"),
    (30, "30 days", "30 dagen", "30 jours"),
    (1, "1 day", "1 dag", "1 jour"),
    (45, "45 days", "45 dagen", "45 jours"),
    (
        1000,
        "1,000 days (about 2 years and 9 months)",
        "1.000 dagen (ongeveer 2 jaar en 9 maanden)",
        "1 000 jours (environ 2 ans et 9 mois)",
    ),
]


@pytest.mark.parametrize(("days", "en", "nl", "fr"), PERIOD_WORDS)
def test_periods_are_shown_in_years_and_months_in_the_readers_language(app, days, en, nl, fr):
    for lang, expected in (("en", en), ("nl", nl), ("fr", fr)):
        assert " ".join(periods.days_in_words(days, lang).split()) == expected
    assert periods.hours_in_words(48, "nl") == "48 uur"
    assert periods.hours_in_words(96, "en") == "4 days"


NOTICE_DEFAULTS = {
    "en": ("Proof of consent after you left: 5 years", "asked again 2 years after"),
    "nl": ("nadat u bent vertrokken: 5 jaar", "opnieuw 2 jaar nadat"),
    "fr": ("après votre départ : 5 ans", "consentement 2 ans après"),
}


@pytest.mark.parametrize("lang", ["en", "nl", "fr"])
def test_privacy_notice_shows_periods_in_years_and_months(client, lang):
    """1826 days is "5 years" ("5 jaar", "5 ans"), never "1826 days"; by ?lang= and by
    the browser's Accept-Language alike."""
    accept = {"en": "en-GB", "nl": "nl-BE,nl;q=0.9", "fr": "fr-BE,fr;q=0.8"}[lang]
    for response in (
        client.get(f"/privacy?lang={lang}"),
        client.get("/privacy", headers={"Accept-Language": accept}),
    ):
        assert response.headers["Content-Language"] == lang
        page = text_of(response)
        for words in NOTICE_DEFAULTS[lang]:
            assert words in page
        assert "1826" not in page
        assert "1,826" not in page
        assert not re.search(r"\b730\b", page)


# --- recipients, processors, transfers, DPO, contact ---------------------------------

NOTICE_FACTS = {
    "en": {
        "recipients": ("Who receives it", "Transfers outside"),
        "transfers": ("Transfers outside", "How long we keep it"),
        "smtp": "The mail service that delivers our mail",
        "scc": "Postmark Inc. (US): protected by the Commission's standard contractual "
        "clauses (2021/914) (GDPR Art. 46)",
        "none": "Nuvem Ltda (Brazil): there is no adequacy decision",
        "dpo": "Our data protection officer: Jan Peeters <dpo@shop.example>",
        "contact": "For questions about your privacy, write to privacy@shop.example",
        "eea": "None: your data stays in the European Economic Area.",
    },
    "nl": {
        "recipients": ("Wie uw gegevens ontvangt", "Doorgifte buiten"),
        "transfers": ("Doorgifte buiten", "Hoe lang wij"),
        "smtp": "De maildienst die onze mail aflevert",
        "scc": "Postmark Inc. (US): beschermd door the Commission's standard contractual "
        "clauses (2021/914) (AVG art. 46)",
        "none": "Nuvem Ltda (Brazil): voor dit land bestaat geen adequaatheidsbesluit",
        "dpo": "Onze functionaris voor gegevensbescherming: Jan Peeters <dpo@shop.example>",
        "contact": "Met vragen over uw privacy kunt u terecht bij privacy@shop.example",
        "eea": "Geen: uw gegevens blijven in de Europese Economische Ruimte.",
    },
    "fr": {
        "recipients": ("Qui les reçoit", "Transferts hors"),
        "transfers": ("Transferts hors", "Combien de temps"),
        "smtp": "Le service qui remet nos e-mails",
        "scc": "Postmark Inc. (US) : protégé par the Commission's standard contractual "
        "clauses (2021/914) (RGPD art. 46)",
        "none": "Nuvem Ltda (Brazil) : il n'existe pas de décision d'adéquation",
        "dpo": "Notre délégué à la protection des données : Jan Peeters <dpo@shop.example>",
        "contact": "Pour toute question sur votre vie privée, écrivez à privacy@shop.example",
        "eea": "Aucun : vos données restent dans l'Espace économique européen.",
    },
}


@pytest.mark.parametrize("lang", ["en", "nl", "fr"])
def test_privacy_notice_names_processors_transfers_dpo_and_contact_from_the_configuration(
    app, client, lang
):
    app.config.update(
        PROCESSORS=PROCESSORS,
        MAIL_SERVER="smtp.relay-internal.example",
        MAIL_USE_TLS=True,
        DPO_CONTACT="Jan Peeters <dpo@shop.example>",
        CONTROLLER_CONTACT="privacy@shop.example",
    )
    response = client.get(f"/privacy?lang={lang}")
    facts = NOTICE_FACTS[lang]
    page = text_of(response)
    recipients = section(page, *facts["recipients"])
    for entry in PROCESSORS:
        assert f"{entry['name']} ({entry['country']})" in recipients
        assert entry["purpose"] in recipients
    assert facts["smtp"] in recipients  # the SMTP relay, found in the configuration
    assert "smtp.relay-internal.example" not in page  # by kind: no internal host names
    transfers = section(page, *facts["transfers"])
    assert "Mailjet" not in transfers  # France is in the EEA
    assert facts["scc"] in transfers
    assert facts["none"] in transfers
    assert facts["dpo"] in page
    assert facts["contact"] in page
    assert 'href="mailto:privacy@shop.example"' in response.text
    assert 'href="mailto:dpo@shop.example"' in response.text
    assert "news@shop.example" not in page  # the sender is not the contact any more


@pytest.mark.parametrize("lang", ["en", "nl", "fr"])
def test_privacy_notice_without_processors_or_dpo_says_so(client, lang):
    """Defaults: no processor, no DPO, the contact falls back to the sender address."""
    page = text_of(client.get(f"/privacy?lang={lang}"))
    facts = NOTICE_FACTS[lang]
    assert facts["eea"] in page
    assert facts["dpo"].split(":")[0] not in page
    assert facts["contact"].replace("privacy@shop.example", "news@shop.example") in page


def test_a_french_browser_reads_processors_and_periods_in_chromium(app):
    app.config.update(PROCESSORS=PROCESSORS, DPO_CONTACT="dpo@shop.example")
    with serve(app) as base_url, browser_page(locale="fr-BE") as page:
        page.goto(f"{base_url}/privacy")
        assert page.locator("html").get_attribute("lang") == "fr"
        retention = " ".join(page.locator("ul.retention").inner_text().split())
        assert "après votre départ : 5 ans" in retention
        assert "1826" not in retention
        recipients = page.locator("ul.recipients").inner_text()
        assert "Postmark Inc. (US)" in recipients
        transfers = " ".join(page.locator("ul.transfers").inner_text().split())
        assert "clauses (2021/914) (RGPD art. 46)" in transfers
        page.get_by_role("link", name="dpo@shop.example").wait_for()


# --- the contact nobody reads ----------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "unread"),
    [
        ("noreply@shop.example", True),
        ("no-reply@shop.example", True),
        ("No_Reply+news@shop.example", True),
        ("donotreply@shop.example", True),
        ("do-not-reply@shop.example", True),
        ("newsletter-noreply@shop.example", True),
        ("niet-antwoorden@shop.be", True),
        ("ne-pas-repondre@shop.be", True),
        ("news@shop.example", False),
        ("privacy@noreply.example", False),  # the domain is not the mailbox
        ("reply@shop.example", False),
    ],
)
def test_privacy_contact_unread(address, unread):
    found = compliance.privacy_contact_unread({"CONTROLLER_CONTACT": None}, address)
    assert (found is not None) == unread
    if unread:
        assert "NEWSLETTER_CONTROLLER_CONTACT" in found
        assert address in found


def test_noreply_sender_as_privacy_contact_is_flagged_on_the_dashboard(app, admin_client):
    app.config["MAIL_DEFAULT_SENDER"] = "Demo Shop <noreply@shop.example>"
    banner = text_of(admin_client.get("/admin/"))
    assert "To fix in the configuration" in banner
    assert "falls back to noreply@shop.example" in banner
    app.config["CONTROLLER_CONTACT"] = "privacy@shop.example"
    assert "falls back to noreply" not in text_of(admin_client.get("/admin/"))


# --- the mailto unsubscribe nothing reads ----------------------------------------------


def test_unsubscribe_mailto_unread():
    unread = compliance.unsubscribe_mailto_unread({}, "unsubscribe@shop.example", False)
    assert "unsubscribe@shop.example" in unread
    assert "NEWSLETTER_BOUNCE_MAILBOX_PROTOCOL" in unread
    # Polled, but the mailto is the default address, maybe delivered elsewhere.
    polled = {"BOUNCE_MAILBOX_HOST": "imap.shop.example"}
    default = compliance.unsubscribe_mailto_unread(polled, "unsubscribe@shop.example", True)
    assert "NEWSLETTER_UNSUBSCRIBE_MAILTO" in default
    pointed = {**polled, "UNSUBSCRIBE_MAILTO": "bounces@shop.example"}
    assert compliance.unsubscribe_mailto_unread(pointed, "bounces@shop.example", True) is None


def test_dashboard_warns_when_the_mailto_is_advertised_but_no_mailbox_is_polled(app, admin_client):
    page = text_of(admin_client.get("/admin/"))
    assert (
        "Every message offers unsubscribing by mail to unsubscribe@shop.example, but the app "
        "reads no mailbox" in page
    )
    assert "NEWSLETTER_BOUNCE_MAILBOX_PROTOCOL" in page
    app.config.update(
        BOUNCE_MAILBOX_PROTOCOL="imap",
        BOUNCE_MAILBOX_HOST="imap.shop.example",
        UNSUBSCRIBE_MAILTO="bounces@shop.example",
    )
    page = text_of(admin_client.get("/admin/"))
    assert "Every message offers unsubscribing by mail" not in page
    assert "To fix in the configuration" not in page  # nothing left to fix


def test_worker_and_flask_run_log_the_warnings_at_start(tmp_path):
    """As people start them: `flask worker`, then `flask run`, on a new installation whose
    sender is a noreply@ and that polls no mailbox."""
    port = free_port()
    env = clean_env(
        NEWSLETTER_INSTANCE_PATH=str(tmp_path / "instance"),
        NEWSLETTER_BASE_URL=f"http://127.0.0.1:{port}",
        NEWSLETTER_MAIL_DEFAULT_SENDER="Demo Shop <noreply@shop.example>",
    )
    mailto = "Every message offers unsubscribing by mail to unsubscribe@shop.example"
    contact = "the privacy notice falls back to noreply@shop.example"
    worker_log = tmp_path / "worker.log"
    with flask(["worker"], env, worker_log):
        wait_for(lambda: mailto in worker_log.read_text(), 45, "the worker's warning", worker_log)
    text = worker_log.read_text()
    assert "WARN" in text  # a warning (alembic's log format shortens the level name)
    assert "flask worker: Every message" in text
    assert contact in text
    run_log = tmp_path / "run.log"
    with flask(["run", "--port", str(port)], env, run_log) as server:
        wait_until_serving(f"http://127.0.0.1:{port}/privacy", server, run_log)
        wait_for(lambda: mailto in run_log.read_text(), 10, "flask run's warning", run_log)
    assert contact in run_log.read_text()


RECONSENT_WORDS = {
    "en": "We ask again every 2 years. Press the button to stay subscribed. If you do nothing, "
    "we stop and delete your address 30 days after we asked.",
    "nl": "We vragen het opnieuw om de 2 jaar. Druk op de knop om ingeschreven te blijven. Doet "
    "u niets, dan stoppen we en wissen we uw adres 30 dagen na onze vraag.",
    "fr": "Nous vous reposons la question tous les 2 ans. Appuyez sur le bouton pour rester "
    "inscrit. Si vous ne faites rien, nous arrêtons et effaçons votre adresse 30 jours après "
    "notre demande.",
}


@pytest.mark.parametrize("lang", ["en", "nl", "fr"])
def test_reconsent_page_shows_periods_in_years_and_months(app, client, make_subscriber, lang):
    """The re-consent page, in the subscriber's language: "every 2 years", not 730 days."""
    person = make_subscriber(f"{lang}@example.be")
    person.locale = lang
    person.reconsent_requested_at = utcnow()
    db.session.commit()
    token = tokens.sign(tokens.RECONSENT, person.public_id)
    page = text_of(client.get(f"/reconsent/{token}"))
    assert RECONSENT_WORDS[lang] in page
    assert "730" not in page
