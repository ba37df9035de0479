"""The record of processing (GDPR Art. 30) and the processor list, from the configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from newsletter import compliance, create_app, records
from newsletter.extensions import db
from tests.helpers import aware

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "RECORD-OF-PROCESSING.md"

PROCESSORS = [
    {"name": "Hostico", "purpose": "runs the server", "country": "BE"},
    {
        "name": "MailCorp",
        "purpose": "sends the newsletter",
        "country": "US",
        "host": "smtp.mailcorp.example",
    },
    {
        "name": "Backup Ltd",
        "purpose": "keeps encrypted backups",
        "country": "India",
        "safeguard": "standard contractual clauses signed 2026-01-15",
    },
]


def record_output(runner, *args) -> str:
    result = runner.invoke(args=["privacy", "record", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_committed_record_of_processing_is_what_the_command_prints(tmp_path, monkeypatch):
    """docs/RECORD-OF-PROCESSING.md is the record of the default configuration, as people
    run it: a new SQLite database upgraded by the migrations on first start."""
    for name in list(os.environ):
        if name.startswith("NEWSLETTER_"):
            monkeypatch.delenv(name)
    # SECRET_KEY only so that the test writes no key file into the instance folder; the
    # record does not depend on it.
    app = create_app(
        {"SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'default.db'}"}
    )
    with app.app_context():
        printed = record_output(app.test_cli_runner())
        db.session.remove()
        db.engine.dispose()
    assert COMMITTED.read_text() == printed, (
        "docs/RECORD-OF-PROCESSING.md is stale: regenerate it with "
        "`flask privacy record > docs/RECORD-OF-PROCESSING.md` on the default configuration"
    )


@pytest.mark.parametrize(
    "processors",
    [
        ["Mailjet"],
        [{"name": "Mailjet", "purpose": "sends mail"}],
        [{"name": "Mailjet", "purpose": "sends mail", "contry": "FR"}],
        [{"name": "", "purpose": "sends mail", "country": "FR"}],
        [{"name": "Mailjet", "purpose": "sends mail", "country": 33}],
        {"name": "Mailjet", "purpose": "sends mail", "country": "FR"},
        "Mailjet, France",
    ],
)
def test_processor_entry_that_is_not_an_object_refuses_to_start(app_config, processors):
    with pytest.raises(RuntimeError, match="NEWSLETTER_PROCESSORS") as refused:
        create_app({**app_config, "PROCESSORS": processors})
    assert '"name", "purpose" and "country"' in str(refused.value) or "JSON list" in str(
        refused.value
    )


def test_bad_processor_variable_stops_the_flask_command_with_a_plain_message(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")},
        "NEWSLETTER_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
        "NEWSLETTER_PROCESSORS": '[{"name": "Mailjet", "purpose": "sends mail"}]',
    }
    done = subprocess.run(
        [sys.executable, "-m", "flask", "privacy", "record"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "NEWSLETTER_PROCESSORS entry 1 must be an object" in done.stderr
    assert "# Record of processing" not in done.stdout


def test_record_of_processing_lists_every_processor(app_config, runner):
    runner.app.config.update(
        PROCESSORS=PROCESSORS,
        MAIL_SERVER="smtp.mailcorp.example",
        BOUNCE_MAILBOX_PROTOCOL="imap",
        BOUNCE_MAILBOX_HOST="imap.other-host.example",
    )
    data = json.loads(record_output(runner, "--format", "json"))
    names = [p["name"] for p in data["processors"]]
    # configured ones, then the bounce mailbox found in the configuration; the relay is
    # MailCorp's host, so it is not listed a second time
    assert names == ["Hostico", "MailCorp", "Backup Ltd", "Bounce mailbox imap.other-host.example"]
    transfers = {p["name"]: p["transfer"] for p in data["transfers"]}
    assert set(transfers) == {"MailCorp", "Backup Ltd"}
    assert "adequacy decision" in transfers["MailCorp"]
    assert "Data Privacy Framework" in transfers["MailCorp"]
    assert "standard contractual clauses signed 2026-01-15" in transfers["Backup Ltd"]
    markdown = record_output(runner)
    for entry in PROCESSORS:
        assert f"| {entry['name']} | {entry['purpose']} | {entry['country']} |" in markdown
    assert "| Bounce mailbox imap.other-host.example |" in markdown
    assert "- MailCorp (US): transfer outside the EEA" in markdown
    todo = markdown.split("## To do for the operator")[1]
    assert "MailCorp (US)" in todo  # no safeguard on record: flagged
    assert "Backup Ltd" not in todo  # its safeguard is on record
    assert "Bounce mailbox imap.other-host.example: country not stated" in todo
    for entry in PROCESSORS:
        assert any(entry["name"] in line for line in data["recipients"])


def test_smtp_relay_is_listed_automatically_when_set(runner):
    assert "SMTP relay" not in record_output(runner)  # the built-in outbox: nothing leaves
    runner.app.config.update(MAIL_SERVER="relay.provider.example", MAIL_USE_TLS=False)
    markdown = record_output(runner)
    assert "| SMTP relay relay.provider.example | receives every mail" in markdown
    assert "| not stated | unknown until the country is stated | `NEWSLETTER_MAIL_SERVER` |" in (
        markdown
    )
    assert "Mail leaves for the SMTP relay unencrypted" in markdown
    runner.app.config.update(MAIL_SERVER="127.0.0.1", MAIL_USE_TLS=False)
    local = record_output(runner)
    assert "SMTP relay on this machine (127.0.0.1)" in local
    assert "unencrypted" not in local


def test_record_names_controller_contact_and_dpo_from_the_configuration(runner):
    default = record_output(runner)
    assert "- Privacy contact: news@shop.example (the sender address" in default
    assert "- Data protection officer: none designated" in default
    runner.app.config.update(
        CONTROLLER_CONTACT="privacy@shop.example", DPO_CONTACT="DPO Office, dpo@shop.example"
    )
    configured = record_output(runner)
    assert "- Privacy contact: privacy@shop.example (NEWSLETTER_CONTROLLER_CONTACT)" in configured
    assert "- Data protection officer: DPO Office, dpo@shop.example" in configured
    assert "set NEWSLETTER_CONTROLLER_CONTACT" not in configured


def test_record_lists_every_table_and_column_holding_personal_data(app, runner):
    tables, unclassified = records.categories(app.config)
    assert unclassified == [], "classify these tables in newsletter/records.py TABLES"
    classified = set(records.TABLES) | records.NOT_PERSONAL
    assert set(db.metadata.tables) <= classified
    markdown = record_output(runner)
    for table in tables:
        assert f"| `{table.table}` |" in markdown
    subscriber = next(t for t in tables if t.table == "subscriber")
    assert {"email", "name", "locale", "consented_at", "purchased_at"} <= set(subscriber.columns)
    events = next(t for t in tables if t.table == "consent_event")
    assert {"ip", "user_agent", "subject_hash"} <= set(events.columns)


def test_record_follows_the_configured_periods_and_topics(runner, make_topic):
    runner.app.config.update(CONSENT_EVIDENCE_RETENTION_DAYS=3653, OUTBOX_RETENTION_DAYS=45)
    make_topic("offers", "Our offers", own_similar_products=True)
    markdown = record_output(runner)
    assert "10 years (`CONSENT_EVIDENCE_RETENTION_DAYS` = 3653)" in markdown
    assert "45 days (`OUTBOX_RETENTION_DAYS` = 45)" in markdown
    offers = next(line for line in markdown.splitlines() if '"Our offers"' in line)
    assert "own similar products" in offers
    assert "ePrivacy Art. 13(2)" in offers
    newsletter = next(line for line in markdown.splitlines() if '"Newsletter"' in line)
    assert "own similar products" not in newsletter


@pytest.mark.parametrize(
    ("days", "words"),
    [(730, "2 years"), (1826, "5 years"), (365, "1 year"), (90, "3 months"), (30, "30 days")]
    + [(45, "45 days"), (1, "1 day"), (3653, "10 years"), (548, "1 year and 6 months")],
)
def test_periods_are_written_in_years_and_months(days, words):
    assert records.in_words(days) == words


def test_transfer_safeguard():
    assert compliance.transfer_safeguard("BE") is None
    assert compliance.transfer_safeguard("the Netherlands") is None
    assert compliance.transfer_safeguard("Norway") is None  # EEA, not EU
    assert "adequacy decision for Switzerland" in compliance.transfer_safeguard("CH")
    assert "adequacy decision for United Kingdom" in compliance.transfer_safeguard("UK")
    india = compliance.transfer_safeguard("IN")
    assert "no safeguard on record" in india
    assert "Art. 46(2)(c)" in india
    unknown = compliance.transfer_safeguard("Atlantis")
    assert "not recognised as an EEA country" in unknown
    assert "on record: SCC 2021" in compliance.transfer_safeguard("IN", "SCC 2021")


def test_breach_notification_overdue():
    found = aware(2026, 3, 1, 12)
    assert not compliance.breach_notification_overdue(found, False, found + timedelta(hours=72))
    assert compliance.breach_notification_overdue(found, False, found + timedelta(hours=73))
    assert not compliance.breach_notification_overdue(found, True, found + timedelta(days=9))


def test_notice_facts_give_the_privacy_notice_its_contact_dpo_processors_and_transfers(app):
    app.config.update(PROCESSORS=PROCESSORS, DPO_CONTACT="dpo@shop.example")
    facts = records.notice_facts(app.config)
    assert facts["contact"] == "news@shop.example"  # the sender, as CONTROLLER_CONTACT is unset
    assert facts["dpo"] == "dpo@shop.example"
    assert [p.name for p in facts["processors"]] == ["Hostico", "MailCorp", "Backup Ltd"]
    assert [(p.name, p.country) for p in facts["transfers"]] == [
        ("MailCorp", "US"),
        ("Backup Ltd", "India"),
    ]
    app.config.update(CONTROLLER_CONTACT="privacy@shop.example", DPO_CONTACT=None)
    assert records.notice_facts(app.config)["contact"] == "privacy@shop.example"
    assert records.notice_facts(app.config)["dpo"] is None
