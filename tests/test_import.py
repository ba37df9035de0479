"""flask subscribers import: every row outcome, suppression, atomicity, the report."""

from __future__ import annotations

import csv
import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from newsletter import addresses, clock, imports, subscriptions
from newsletter.addresses import address_hash
from newsletter.extensions import db
from newsletter.models import (
    AuditEntry,
    Basis,
    Channel,
    ConfirmationSend,
    ConsentEvent,
    OutboxMessage,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tests.helpers import aware

NOW = aware(2026, 3, 2, 12, 0)
SOURCE = "webshop checkout 2025, newsletter box ticked"
# The evidence of a consent a row must carry to be imported (docs/IMPORTS.md).
EVIDENCE = {
    "consent_text": "Yes, send me the Bakkerij Jansen newsletter. I can unsubscribe any time.",
    "consent_where": "https://old.bakkerij-jansen.example/newsletter",
    "consent_how": "double opt-in on our old site",
    "consent_system": "Mailchimp audience export 2025-11-30",
}
OPTOUT = {"optout_offered": "webshop checkout: unticked box 'No offers by email'"}


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen(NOW):
        yield


@pytest.fixture
def csv_file(tmp_path):
    """Write rows (dicts, or raw text) to a CSV file; returns its path."""

    def write(rows, name="people.csv", header=None):
        path = tmp_path / name
        if isinstance(rows, str):
            path.write_text(rows, encoding="utf-8")
            return path
        columns = header or list(dict.fromkeys(k for row in rows for k in row))
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return path

    return write


@pytest.fixture
def run_import(runner):
    """Run the command; returns (exit code, parsed JSON report or None, output)."""

    def run(path, basis="consent", source=SOURCE, *extra, declare=True):
        args = ["subscribers", "import", str(path), "--basis", basis, "--source", source]
        if declare:
            args.append("--own-contacts")
        result = runner.invoke(args=[*args, *extra], input="n\n")
        report = None
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        if result.exit_code == 0:
            report = json.loads(result.output[result.output.index("{") :])
        return result.exit_code, report, result.output

    return run


def subscriber(email: str) -> Subscriber | None:
    db.session.expire_all()
    return db.session.scalar(select(Subscriber).where(Subscriber.email == email))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_consent_row_with_evidence_becomes_active_with_import_event(csv_file, run_import):
    path = csv_file(
        [
            {
                "email": "Ann@Example.org",
                "name": "Ann",
                "topics": "newsletter",
                "consented_at": "2025-06-01",
                "locale": "nl",
                **EVIDENCE,
            }
        ]
    )
    code, report, _ = run_import(path)
    assert code == 0
    assert report["counts"]["active"] == 1
    ann = subscriber("ann@example.org")
    assert ann.status == SubscriberStatus.ACTIVE
    assert (ann.name, ann.locale, ann.source) == ("Ann", "nl", SOURCE)
    assert ann.consented_at == aware(2025, 6, 1)
    [subscription] = ann.subscriptions
    assert subscription.basis == Basis.CONSENT
    assert subscription.confirmed_at == aware(2025, 6, 1)
    [event] = db.session.scalars(select(ConsentEvent)).all()
    assert (event.kind, event.source, event.basis) == ("import", SOURCE, Basis.CONSENT)
    assert event.detail["evidence_date"] == "2025-06-01T00:00:00+00:00"
    assert event.subject_hash == address_hash("ann@example.org")
    evidence = event.import_evidence
    assert evidence.given_at == aware(2025, 6, 1)
    assert (evidence.consent_text, evidence.consent_where) == (
        EVIDENCE["consent_text"],
        EVIDENCE["consent_where"],
    )
    assert (evidence.consent_how, evidence.consent_system, evidence.declared_by) == (
        EVIDENCE["consent_how"],
        EVIDENCE["consent_system"],
        "cli",
    )


@pytest.mark.parametrize(
    "cells",
    [
        {},  # no date, no evidence: the old "someone (we hope you) asked" mail case
        {"consented_at": "2025-06-01"},  # a typed date alone
        {**EVIDENCE},  # everything but the date
        {**EVIDENCE, "consented_at": "2025-06-01", "consent_text": ""},  # no wording
        {**EVIDENCE, "consented_at": "2025-06-01", "consent_where": ""},
        {**EVIDENCE, "consented_at": "2025-06-01", "consent_how": ""},
        {**EVIDENCE, "consented_at": "2025-06-01", "consent_system": ""},
    ],
)
def test_missing_consent_evidence_row_is_skipped_and_nobody_is_mailed(
    csv_file, run_import, outbox, cells
):
    code, report, _ = run_import(csv_file([{"email": "bob@example.org", **cells}]))
    assert code == 0
    assert report["counts"]["skipped"] == 1
    assert report["skipped"][0]["reason"].startswith("no evidence of consent (")
    assert "not imported and not mailed" in report["skipped"][0]["reason"]
    assert "confirmations" not in report
    assert subscriber("bob@example.org") is None
    assert count(ConsentEvent) == 0
    assert outbox() == []


def test_a_reference_to_the_wording_is_evidence_enough(csv_file, run_import):
    row = {"email": "ref@example.org", "consented_at": "2025-06-01", **EVIDENCE}
    row.update(consent_text="", consent_text_ref="paper form v2, archived as forms/v2.pdf")
    code, report, _ = run_import(csv_file([row]))
    assert report["counts"]["active"] == 1
    event = db.session.scalar(select(ConsentEvent))
    assert event.import_evidence.consent_text is None
    assert event.import_evidence.consent_text_ref == "paper form v2, archived as forms/v2.pdf"


def test_consent_older_than_the_reconsent_interval_is_skipped_not_mailed(
    csv_file, run_import, outbox
):
    old = (NOW - timedelta(days=800)).date().isoformat()
    row = {"email": "old@example.org", "consented_at": old, **EVIDENCE}
    code, report, _ = run_import(csv_file([row]))
    assert code == 0
    assert report["skipped"] == [
        {
            "line": 2,
            "reason": f"consent of {old} is older than the re-consent interval (730 days): "
            "not imported and not mailed",
        }
    ]
    assert subscriber("old@example.org") is None
    assert outbox() == []


def test_existing_customer_rows_need_a_purchase_and_own_similar_topics(
    csv_file, run_import, make_topic, outbox
):
    make_topic("shoes", own_similar_products=True)
    path = csv_file(
        [
            {"email": "cat@example.org", "topics": "shoes", "purchased_at": "2025-11-20", **OPTOUT},
            {"email": "dan@example.org", "topics": "shoes", "purchased_at": "", **OPTOUT},
            {
                "email": "eve@example.org",
                "topics": "newsletter",
                "purchased_at": "2025-11-20",
                **OPTOUT,
            },
        ]
    )
    code, report, _ = run_import(path, "existing-customer")
    assert code == 0
    assert report["counts"] == {
        "rows": 3,
        "active": 0,
        "customer": 1,
        "updated": 0,
        "unchanged": 0,
        "skipped": 2,
    }
    reasons = {row["line"]: row["reason"] for row in report["skipped"]}
    assert "need purchased_at" in reasons[3]
    assert "newsletter" in reasons[4]
    assert "own-similar-products" in reasons[4]
    cat = subscriber("cat@example.org")
    assert cat.status == SubscriberStatus.ACTIVE
    assert cat.purchased_at == aware(2025, 11, 20)
    assert cat.subscriptions[0].basis == Basis.EXISTING_CUSTOMER
    assert subscriber("dan@example.org") is None
    assert subscriber("eve@example.org") is None
    assert outbox() == []  # soft opt-in: no confirmation mail
    event = db.session.scalar(select(ConsentEvent))
    assert event.import_evidence.optout_offered == OPTOUT["optout_offered"]
    assert event.import_evidence.given_at == aware(2025, 11, 20)


@pytest.mark.parametrize(
    "spelling",
    [
        "gone@example.org",
        "GONE@Example.ORG",
        "  gone@example.org\t",
        "ｇｏｎｅ@ｅｘａｍｐｌｅ.ｏｒｇ",  # full-width letters (NFKC folds them)
        "Gone@EXAMPLE.org ",
    ],
)
def test_suppressed_address_in_any_spelling_is_not_readded(
    csv_file, run_import, make_subscriber, spelling
):
    gone = make_subscriber("gone@example.org")
    subscriptions.erase(gone, "unsubscribed", Channel.ALL, subscriptions.Evidence("test"))
    db.session.commit()
    path = csv_file([{"email": spelling, "consented_at": "2025-06-01", **EVIDENCE}])
    code, report, _ = run_import(path)
    assert code == 0
    assert report["counts"]["skipped"] == 1
    assert "suppressed" in report["skipped"][0]["reason"]
    assert count(Subscriber) == 0


def test_objection_on_another_channel_does_not_block_an_email_import(csv_file, run_import):
    subscriptions.suppress(address_hash("sam@example.org"), "objection", [Channel.SMS])
    db.session.commit()
    code, report, _ = run_import(
        csv_file([{"email": "sam@example.org", "consented_at": "2025-06-01", **EVIDENCE}])
    )
    assert code == 0
    assert report["counts"]["active"] == 1


def test_bad_rows_are_reported_with_line_and_reason_and_valid_rows_go_in(csv_file, run_import):
    e = ",our wording v1,https://shop.example/signup,double opt-in,old shop"  # evidence cells
    text = (
        "email,topics,consented_at,locale,name,"
        "consent_text_ref,consent_where,consent_how,consent_system\n"
        f"ok@example.org,newsletter,2025-06-01,en,Ok{e}\n"  # 2
        f"not-an-address,newsletter,2025-06-01,en,{e}\n"  # 3
        f"t@example.org,nosuchtopic,2025-06-01,en,{e}\n"  # 4
        f"d@example.org,newsletter,01/06/2025,en,{e}\n"  # 5
        f"f@example.org,newsletter,2099-01-01,en,{e}\n"  # 6
        f"OK@example.org,newsletter,2025-06-01,en,{e}\n"  # 7 duplicate of 2
        f"l@example.org,newsletter,2025-06-01,english please,{e}\n"  # 8
        f'n@example.org,newsletter,2025-06-01,en,"Bcc: x\r\ny"{e}\n'  # 9-10 (quoted line break)
        f"x@example.org,newsletter,2025-06-01,en,X,extra{e}\n"  # 11
        f",newsletter,2025-06-01,en,{e}\n"  # 12
    )
    code, report, _ = run_import(csv_file(text))
    assert code == 0
    reasons = {row["line"]: row["reason"] for row in report["skipped"]}
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 10, 11, 12}
    assert reasons[3].startswith("invalid address")
    assert reasons[4] == "unknown topic(s): nosuchtopic"
    assert "bad date in consented_at" in reasons[5]
    assert reasons[6] == "consented_at is in the future"
    assert reasons[7] == "duplicate of line 2"
    assert "invalid locale" in reasons[8]
    assert "control characters" in reasons[10]
    assert "more cells than columns" in reasons[11]
    assert reasons[12].startswith("invalid address")
    assert report["counts"]["active"] == 1
    assert report["counts"]["skipped"] == 9
    assert [s.email for s in db.session.scalars(select(Subscriber))] == ["ok@example.org"]


def test_report_names_no_address(csv_file, run_import):
    path = csv_file([{"email": "secret-person@example.org", "topics": "nope"}])
    code, report, output = run_import(path)
    assert code == 0
    assert report["counts"]["skipped"] == 1
    assert "secret-person" not in output


def test_unreadable_row_in_the_middle_leaves_nothing_half_imported(
    csv_file, run_import, monkeypatch, tmp_path
):
    monkeypatch.setattr(imports.reading, "CHUNK_SIZE", 3)  # earlier chunks are flushed first
    good = "".join(f"p{i}@example.org,,\n" for i in range(7))
    path = tmp_path / "broken.csv"
    path.write_bytes(
        b"email,topics,consented_at\n" + good.encode() + b"\xff\xfe@example.org,,\n" + good.encode()
    )
    code, report, output = run_import(path)
    assert code == 1
    assert "not UTF-8" in output
    assert "Nothing was imported" in output
    for model in (Subscriber, ConsentEvent, OutboxMessage, ConfirmationSend, AuditEntry):
        assert count(model) == 0, model


def test_a_failure_while_writing_rolls_everything_back(csv_file, run_import, monkeypatch):
    monkeypatch.setattr(imports.reading, "CHUNK_SIZE", 2)
    calls = []
    real = imports.write_chunk

    def failing_write(rows, existing, ctx):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real(rows, existing, ctx)

    monkeypatch.setattr(imports.chunks, "write_chunk", failing_write)
    path = csv_file(
        [{"email": f"w{i}@example.org", "consented_at": "2025-06-01", **EVIDENCE} for i in range(5)]
    )
    code, _, output = run_import(path)
    assert code == 1
    assert len(calls) == 2
    assert "Nothing was imported" in output
    assert count(Subscriber) == 0
    assert count(ConsentEvent) == 0


def test_existing_subscriber_gets_new_topics_without_lowering_evidence(
    csv_file, run_import, make_subscriber, make_topic
):
    make_topic("shoes", own_similar_products=True)
    ann = make_subscriber("ann@example.org", topics=("newsletter",), consented_at=aware(2026, 1, 5))
    row = {"email": "ann@example.org", "topics": "shoes", "purchased_at": "2025-12-01", **OPTOUT}
    path = csv_file([row])
    code, report, _ = run_import(path, "existing-customer")
    assert code == 0
    assert report["counts"]["updated"] == 1
    ann = subscriber("ann@example.org")
    bases = {s.topic.slug: s.basis for s in ann.subscriptions}
    assert bases == {"newsletter": Basis.CONSENT, "shoes": Basis.EXISTING_CUSTOMER}
    assert ann.consented_at == aware(2026, 1, 5)
    assert ann.purchased_at == aware(2025, 12, 1)
    # an older consent date does not replace the newer one
    run_import(
        csv_file([{"email": "ann@example.org", "consented_at": "2025-01-01", **EVIDENCE}], "b.csv")
    )
    assert subscriber("ann@example.org").consented_at == aware(2026, 1, 5)
    assert ann.id == subscriber("ann@example.org").id


def test_known_subscriber_with_everything_is_unchanged(csv_file, run_import, make_subscriber):
    make_subscriber("ann@example.org")
    before = count(ConsentEvent)
    code, report, _ = run_import(csv_file([{"email": "ann@example.org", "topics": "newsletter"}]))
    assert code == 0
    assert report["counts"]["unchanged"] == 1
    assert count(ConsentEvent) == before


def test_evidence_raises_a_pending_signup_to_active(csv_file, run_import, make_subscriber):
    make_subscriber("pat@example.org", status=SubscriberStatus.PENDING)
    path = csv_file([{"email": "pat@example.org", "consented_at": "2025-09-09", **EVIDENCE}])
    code, report, _ = run_import(path)
    assert report["counts"]["updated"] == 1
    pat = subscriber("pat@example.org")
    assert pat.status == SubscriberStatus.ACTIVE
    assert pat.subscriptions[0].confirmed_at == aware(2025, 9, 9)


@pytest.mark.parametrize(
    "source",
    [
        "list purchased from MarketingCo",
        "adressenbestand gekocht bij LeadCo",
        "acheté un fichier clients chez DataPro",
        "newsletter box was pre-ticked",
        "webshop checkout 2025, newsletter box ticked",
    ],
)
def test_require_own_contacts_declaration_without_a_terminal_refuses(csv_file, run_import, source):
    """No flag, no terminal: nobody declared anything, so nothing is imported, whatever
    the source says (the words of the source decide nothing)."""
    path = csv_file([{"email": "ann@example.org", "consented_at": "2025-06-01", **EVIDENCE}])
    code, _, output = run_import(path, "consent", source, declare=False)
    assert code == 1
    assert "No declaration that these are your own contacts" in output
    assert "Pass --own-contacts to declare: Every person in this file gave" in output
    assert "not a list bought, rented or borrowed from someone else" in output
    assert "no consent taken from a pre-ticked box" in output
    assert "Nothing was imported." in output
    assert count(Subscriber) == 0


@pytest.mark.parametrize(("answer", "imported"), [("y\n", 1), ("n\n", 0), ("\n", 0)])
def test_require_own_contacts_declaration_prompts_on_a_terminal(
    csv_file, runner, monkeypatch, answer, imported
):
    monkeypatch.setattr("newsletter.cli.imports._interactive", lambda: True)
    path = csv_file([{"email": "ann@example.org", "consented_at": "2025-06-01", **EVIDENCE}])
    args = ["subscribers", "import", str(path), "--basis", "consent", "--source", SOURCE]
    result = runner.invoke(args=args, input=answer)
    assert "Every person in this file gave their consent to, or bought from," in result.output
    assert "Do you declare this? [y/N]" in result.output
    assert count(Subscriber) == imported
    if not imported:
        assert result.exit_code == 1
        assert "Confirm that every person in the file" in result.output
        assert "Nothing was imported." in result.output


def test_the_declaration_is_stored_with_each_imported_row(app, csv_file, run_import):
    path = csv_file([{"email": "ann@example.org", "consented_at": "2025-06-01", **EVIDENCE}])
    run_import(path, "consent", "list purchased from MarketingCo")
    event = db.session.scalar(select(ConsentEvent))
    org = app.config["ORGANIZATION_NAME"]
    declared = f"Every person in this file gave their consent to, or bought from, {org} itself"
    assert event.detail["declaration"].startswith(declared)
    assert event.detail["declared_by"] == event.import_evidence.declared_by == "cli"
    assert event.source == "list purchased from MarketingCo"  # kept as written, for an auditor


def test_a_short_source_description_is_refused(csv_file, run_import):
    path = csv_file([{"email": "ann@example.org", "consented_at": "2025-06-01", **EVIDENCE}])
    code, _, output = run_import(path, "consent", "shop")
    assert code == 1
    assert "at least 10 characters" in output
    assert count(Subscriber) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,topics\nAnn,newsletter\n", "including 'email'"),
        ("email,e-mail\nann@example.org,x\n", "Unknown column(s) 'e-mail'"),
        ("", "including 'email'"),
    ],
)
def test_file_level_problems_abort_with_a_clear_message(csv_file, run_import, text, message):
    code, _, output = run_import(csv_file(text))
    assert code == 1
    assert message in output


def test_dry_run_reports_the_same_and_writes_nothing(csv_file, run_import, outbox):
    path = csv_file(
        [
            {"email": "a@example.org", "consented_at": "2025-06-01", **EVIDENCE},
            {"email": "b@example.org"},  # no evidence: skipped
            {"email": "bad"},
        ]
    )
    code, preview, _ = run_import(path, "consent", SOURCE, "--dry-run")
    assert code == 0
    assert preview["dry_run"] is True
    assert count(Subscriber) == 0
    assert outbox() == []
    assert count(AuditEntry) == 0
    code, report, _ = run_import(path)
    assert report["counts"] == preview["counts"]
    assert count(Subscriber) == 1


def test_import_is_audited_without_addresses(csv_file, run_import):
    run_import(csv_file([{"email": "ann@example.org", "consented_at": "2025-06-01", **EVIDENCE}]))
    [entry] = db.session.scalars(select(AuditEntry)).all()
    assert (entry.actor, entry.action, entry.detail["active"]) == ("cli", "import", 1)
    assert "ann" not in json.dumps(entry.detail)


def test_suppression_list_is_checked_by_hash_only(csv_file, run_import):
    db.session.add(Suppression(address_hash=address_hash("x@example.org"), reason="complaint"))
    db.session.commit()
    code, report, _ = run_import(
        csv_file([{"email": "X@example.org", "consented_at": "2025-06-01", **EVIDENCE}])
    )
    assert report["counts"]["skipped"] == 1


def _outcome(function, raw, *args):
    try:
        return function(raw, *args)
    except addresses.InvalidAddressError:
        return "invalid"


_ALPHABET = "abcAZ09.-_+'@ \t!#%&*/=?^`{|}~ｇé\u200b\u00a0\"()[]:;,<>\\"


@settings(max_examples=300, deadline=None)
@given(
    local=st.text(alphabet=_ALPHABET, min_size=0, max_size=70),
    domain=st.sampled_from(
        [
            "example.org",
            "EXAMPLE.org",
            "ex-ample.co.uk",
            "-bad.org",
            "localhost",
            "a..b",
            "x.y",
            "exämple.org",
            "example.test",
            "1.2.3.4",
            "[1.2.3.4]",
            "b" * 64 + ".org",
            "",
        ]
    ),
)
def test_import_normalisation_matches_addresses_normalise(local, domain):
    raw = f"{local}@{domain}" if "@" not in local else local + domain
    shared: dict[str, bool] = {}
    expected = _outcome(addresses.normalise, raw)
    assert _outcome(imports.normalise_address, raw, {}) == expected
    assert _outcome(imports.normalise_address, raw, shared) == expected
    assert _outcome(imports.normalise_address, raw, shared) == expected  # with the domain cached


# --- memory does not grow with the file (issue 6): what is kept where --------------------


def test_a_duplicate_in_a_later_chunk_names_the_line_of_the_first(
    csv_file, run_import, monkeypatch
):
    monkeypatch.setattr(imports.reading, "CHUNK_SIZE", 2)  # the addresses seen live in the database
    rows = [
        {"email": f"p{i}@example.org", "consented_at": "2025-06-01", **EVIDENCE} for i in range(5)
    ]
    rows += [{"email": "P1@Example.org", "consented_at": "2025-06-01", **EVIDENCE}, rows[4]]
    path = csv_file(rows)
    for extra in (("--dry-run",), ()):
        code, report, _ = run_import(path, "consent", SOURCE, *extra)
        assert code == 0
        assert {r["line"]: r["reason"] for r in report["skipped"]} == {
            7: "duplicate of line 3",
            8: "duplicate of line 6",
        }
        assert report["counts"]["active"] == 5
    assert count(Subscriber) == 5


def test_the_next_import_does_not_see_the_addresses_of_the_last(csv_file, run_import, monkeypatch):
    path = csv_file([{"email": "ann@example.org", "consented_at": "2025-06-01", **EVIDENCE}])
    code, report, _ = run_import(path)
    assert report["counts"]["active"] == 1
    code, report, _ = run_import(path)  # known now, not a duplicate of a line of this file
    assert (code, report["counts"]["unchanged"], report["skipped"]) == (0, 1, [])

    def failing_write(rows, existing, ctx):
        raise RuntimeError("disk full")

    monkeypatch.setattr(imports.chunks, "write_chunk", failing_write)
    other = csv_file(
        [{"email": "bob@example.org", "consented_at": "2025-06-01", **EVIDENCE}], "bob.csv"
    )
    assert run_import(other)[0] == 1
    monkeypatch.undo()
    code, report, _ = run_import(other)  # the failed import left nothing to trip on
    assert (code, report["counts"]["active"], report["skipped"]) == (0, 1, [])


def test_every_skipped_row_is_reported_past_the_in_memory_spool(csv_file, run_import, monkeypatch):
    monkeypatch.setattr(imports.report, "SPOOL_BYTES", 100)  # the rest goes to a temporary file
    rows = [{"email": f"bad{i}", "topics": "newsletter"} for i in range(300)]
    rows.append({"email": "ok@example.org", "consented_at": "2025-06-01", **EVIDENCE})
    code, report, _ = run_import(csv_file(rows))
    assert code == 0
    assert [r["line"] for r in report["skipped"]] == list(range(2, 302))
    assert all(r["reason"].startswith("invalid address") for r in report["skipped"])
    assert (report["counts"]["skipped"], report["counts"]["active"]) == (300, 1)


def test_a_preview_keeps_only_the_rows_it_lists(app, csv_file, monkeypatch):
    monkeypatch.setattr(imports.report, "KEPT_ROWS", 3)
    rows = [
        {"email": f"p{i}@example.org", "consented_at": "2025-06-01", **EVIDENCE} for i in range(10)
    ]
    with csv_file(rows).open(encoding="utf-8") as stream:
        report = imports.import_csv(stream, "consent", SOURCE, True, dry_run=True, keep_rows=True)
    db.session.rollback()
    assert [(r.line, r.email) for r in report.rows] == [
        (2, "p0@example.org"), (3, "p1@example.org"), (4, "p2@example.org")
    ]  # fmt: skip
    assert report.counts["rows"] == report.counts["active"] == 10
