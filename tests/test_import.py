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
from tests.conftest import aware
from tests.helpers import confirm_path

NOW = aware(2026, 3, 2, 12, 0)
SOURCE = "webshop checkout 2025, newsletter box ticked"


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


def test_consent_row_without_evidence_is_pending_and_confirmation_activates(
    csv_file, run_import, outbox, client
):
    code, report, _ = run_import(csv_file([{"email": "bob@example.org", "topics": "newsletter"}]))
    assert code == 0
    assert report["counts"]["pending"] == 1
    assert report["confirmations"] == {"sent": 1, "over_daily_cap": 0}
    assert subscriber("bob@example.org").status == SubscriberStatus.PENDING
    assert subscriber("bob@example.org").subscriptions[0].confirmed_at is None
    [mail] = outbox("bob@example.org")
    assert client.post(confirm_path(mail)).status_code == 200
    bob = subscriber("bob@example.org")
    assert bob.status == SubscriberStatus.ACTIVE
    assert bob.subscriptions[0].confirmed_at is not None


def test_consent_older_than_the_reconsent_interval_is_asked_again(csv_file, run_import, outbox):
    old = (NOW - timedelta(days=800)).date().isoformat()
    code, report, _ = run_import(csv_file([{"email": "old@example.org", "consented_at": old}]))
    assert code == 0
    assert report["counts"]["pending"] == 1
    assert subscriber("old@example.org").status == SubscriberStatus.PENDING
    assert len(outbox("old@example.org")) == 1


def test_existing_customer_rows_need_a_purchase_and_own_similar_topics(
    csv_file, run_import, make_topic, outbox
):
    make_topic("shoes", own_similar_products=True)
    path = csv_file(
        [
            {"email": "cat@example.org", "topics": "shoes", "purchased_at": "2025-11-20"},
            {"email": "dan@example.org", "topics": "shoes", "purchased_at": ""},
            {"email": "eve@example.org", "topics": "newsletter", "purchased_at": "2025-11-20"},
        ]
    )
    code, report, _ = run_import(path, "existing-customer")
    assert code == 0
    assert report["counts"] == {
        "rows": 3,
        "active": 0,
        "pending": 0,
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
    path = csv_file([{"email": spelling, "consented_at": "2025-06-01"}])
    code, report, _ = run_import(path)
    assert code == 0
    assert report["counts"]["skipped"] == 1
    assert "suppressed" in report["skipped"][0]["reason"]
    assert count(Subscriber) == 0


def test_objection_on_another_channel_does_not_block_an_email_import(csv_file, run_import):
    subscriptions.suppress(address_hash("sam@example.org"), "objection", [Channel.SMS])
    db.session.commit()
    code, report, _ = run_import(
        csv_file([{"email": "sam@example.org", "consented_at": "2025-06-01"}])
    )
    assert code == 0
    assert report["counts"]["active"] == 1


def test_bad_rows_are_reported_with_line_and_reason_and_valid_rows_go_in(csv_file, run_import):
    text = (
        "email,topics,consented_at,locale,name\n"
        "ok@example.org,newsletter,2025-06-01,en,Ok\n"  # 2
        "not-an-address,newsletter,2025-06-01,en,\n"  # 3
        "t@example.org,nosuchtopic,2025-06-01,en,\n"  # 4
        "d@example.org,newsletter,01/06/2025,en,\n"  # 5
        "f@example.org,newsletter,2099-01-01,en,\n"  # 6
        "OK@example.org,newsletter,2025-06-01,en,\n"  # 7 duplicate of 2
        "l@example.org,newsletter,2025-06-01,english please,\n"  # 8
        'n@example.org,newsletter,2025-06-01,en,"Bcc: x\r\ny"\n'  # 9-10 (quoted line break)
        "x@example.org,newsletter,2025-06-01,en,X,extra\n"  # 11
        ",newsletter,2025-06-01,en,\n"  # 12
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
    monkeypatch.setattr(imports, "CHUNK_SIZE", 3)  # earlier chunks are flushed first
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
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    calls = []
    real = imports._write

    def failing_write(rows, existing, ctx):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real(rows, existing, ctx)

    monkeypatch.setattr(imports, "_write", failing_write)
    path = csv_file(
        [{"email": f"w{i}@example.org", "consented_at": "2025-06-01"} for i in range(5)]
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
    path = csv_file([{"email": "ann@example.org", "topics": "shoes", "purchased_at": "2025-12-01"}])
    code, report, _ = run_import(path, "existing-customer")
    assert code == 0
    assert report["counts"]["updated"] == 1
    ann = subscriber("ann@example.org")
    bases = {s.topic.slug: s.basis for s in ann.subscriptions}
    assert bases == {"newsletter": Basis.CONSENT, "shoes": Basis.EXISTING_CUSTOMER}
    assert ann.consented_at == aware(2026, 1, 5)
    assert ann.purchased_at == aware(2025, 12, 1)
    # an older consent date does not replace the newer one
    run_import(csv_file([{"email": "ann@example.org", "consented_at": "2025-01-01"}], "b.csv"))
    assert subscriber("ann@example.org").consented_at == aware(2026, 1, 5)
    assert ann.id == subscriber("ann@example.org").id


def test_known_subscriber_with_everything_is_unchanged(csv_file, run_import, make_subscriber):
    make_subscriber("ann@example.org")
    code, report, _ = run_import(csv_file([{"email": "ann@example.org", "topics": "newsletter"}]))
    assert code == 0
    assert report["counts"]["unchanged"] == 1
    assert count(ConsentEvent) == 0


def test_evidence_raises_a_pending_signup_to_active(csv_file, run_import, make_subscriber):
    make_subscriber("pat@example.org", status=SubscriberStatus.PENDING)
    path = csv_file([{"email": "pat@example.org", "consented_at": "2025-09-09"}])
    code, report, _ = run_import(path)
    assert report["counts"]["updated"] == 1
    pat = subscriber("pat@example.org")
    assert pat.status == SubscriberStatus.ACTIVE
    assert pat.subscriptions[0].confirmed_at == aware(2025, 9, 9)


def test_confirmation_requests_respect_the_daily_cap(csv_file, run_import, app, outbox):
    digest = address_hash("cap@example.org")
    for _ in range(app.config["CONFIRM_MAILS_PER_ADDRESS"]):
        db.session.add(ConfirmationSend(address_hash=digest, sent_at=NOW - timedelta(hours=1)))
    db.session.commit()
    code, report, _ = run_import(csv_file([{"email": "cap@example.org"}]))
    assert report["counts"]["pending"] == 1
    assert report["confirmations"] == {"sent": 0, "over_daily_cap": 1}
    assert outbox("cap@example.org") == []


@pytest.mark.parametrize(
    ("source", "declare", "message"),
    [
        ("bought list from leads-r-us", True, "bought, rented or third-party"),
        ("list broker Acme, 2025", True, "bought, rented or third-party"),
        ("shop", True, "at least 10 characters"),
        (SOURCE, False, "Confirm that every person"),
    ],
)
def test_source_declaration_refuses_bought_lists(csv_file, run_import, source, declare, message):
    path = csv_file([{"email": "ann@example.org", "consented_at": "2025-06-01"}])
    code, _, output = run_import(path, "consent", source, declare=declare)
    assert code == 1
    assert message in output
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
            {"email": "a@example.org", "consented_at": "2025-06-01"},
            {"email": "b@example.org"},
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
    assert count(Subscriber) == 2


def test_import_is_audited_without_addresses(csv_file, run_import):
    run_import(csv_file([{"email": "ann@example.org", "consented_at": "2025-06-01"}]))
    [entry] = db.session.scalars(select(AuditEntry)).all()
    assert (entry.actor, entry.action, entry.detail["active"]) == ("cli", "import", 1)
    assert "ann" not in json.dumps(entry.detail)


def test_suppression_list_is_checked_by_hash_only(csv_file, run_import):
    db.session.add(Suppression(address_hash=address_hash("x@example.org"), reason="complaint"))
    db.session.commit()
    code, report, _ = run_import(
        csv_file([{"email": "X@example.org", "consented_at": "2025-06-01"}])
    )
    assert report["counts"]["skipped"] == 1


def _outcome(function, raw, *args):
    try:
        return function(raw, *args)
    except imports.InvalidAddress:
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
    assert _outcome(imports._normalise, raw, {}) == expected
    assert _outcome(imports._normalise, raw, shared) == expected
    assert _outcome(imports._normalise, raw, shared) == expected  # with the domain cached


# --- memory does not grow with the file (issue 6): what is kept where --------------------


def test_a_duplicate_in_a_later_chunk_names_the_line_of_the_first(
    csv_file, run_import, monkeypatch
):
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)  # the addresses seen live in the database
    rows = [{"email": f"p{i}@example.org", "consented_at": "2025-06-01"} for i in range(5)]
    rows += [{"email": "P1@Example.org", "consented_at": "2025-06-01"}, rows[4]]
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
    path = csv_file([{"email": "ann@example.org", "consented_at": "2025-06-01"}])
    code, report, _ = run_import(path)
    assert report["counts"]["active"] == 1
    code, report, _ = run_import(path)  # known now, not a duplicate of a line of this file
    assert (code, report["counts"]["unchanged"], report["skipped"]) == (0, 1, [])

    def failing_write(rows, existing, ctx):
        raise RuntimeError("disk full")

    monkeypatch.setattr(imports, "_write", failing_write)
    other = csv_file([{"email": "bob@example.org", "consented_at": "2025-06-01"}], "bob.csv")
    assert run_import(other)[0] == 1
    monkeypatch.undo()
    code, report, _ = run_import(other)  # the failed import left nothing to trip on
    assert (code, report["counts"]["active"], report["skipped"]) == (0, 1, [])


def test_every_skipped_row_is_reported_past_the_in_memory_spool(csv_file, run_import, monkeypatch):
    monkeypatch.setattr(imports, "SPOOL_BYTES", 100)  # the rest goes to a temporary file
    rows = [{"email": f"bad{i}", "topics": "newsletter"} for i in range(300)]
    rows.append({"email": "ok@example.org", "consented_at": "2025-06-01"})
    code, report, _ = run_import(csv_file(rows))
    assert code == 0
    assert [r["line"] for r in report["skipped"]] == list(range(2, 302))
    assert all(r["reason"].startswith("invalid address") for r in report["skipped"])
    assert (report["counts"]["skipped"], report["counts"]["active"]) == (300, 1)


def test_a_preview_keeps_only_the_rows_it_lists(app, csv_file, monkeypatch):
    monkeypatch.setattr(imports, "KEPT_ROWS", 3)
    rows = [{"email": f"p{i}@example.org", "consented_at": "2025-06-01"} for i in range(10)]
    with csv_file(rows).open(encoding="utf-8") as stream:
        report = imports.import_csv(stream, "consent", SOURCE, True, dry_run=True, keep_rows=True)
    db.session.rollback()
    assert [(r.line, r.email) for r in report.rows] == [
        (2, "p0@example.org"), (3, "p1@example.org"), (4, "p2@example.org")
    ]  # fmt: skip
    assert report.counts["rows"] == report.counts["active"] == 10
