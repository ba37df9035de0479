"""Issue 13, imports: the evidence is stored and shown, the declaration is explicit, the
soft opt-in stays within its limits, and a lapsed basis cannot be imported back.

Through the command (`flask subscribers import`, its JSON report), the jobs as the
scheduler runs them, the Art. 15 export, and the admin with CSRF on (signed in through
the login form), on the default configuration.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter import clock
from newsletter.addresses import address_hash
from newsletter.extensions import db
from newsletter.models import (
    Basis,
    ConsentEvent,
    ImportEvidence,
    LapsedBasis,
    Subscriber,
    Suppression,
)
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, aware
from tests.timetravel import at, rows_mentioning, run_job

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "newsletter" / "static"
SOURCE = "Bakkerij Jansen: old webshop and shop counter"
NOW = aware(2026, 3, 2, 12)
DAY = timedelta(days=1)
CONSENT_EVIDENCE = {
    "consent_text": "Ja, stuur mij de nieuwsbrief van Bakkerij Jansen.",
    "consent_where": "https://old.bakkerij-jansen.example/nieuwsbrief",
    "consent_how": "double opt-in on our old site",
    "consent_system": "Mailchimp audience export 2025-11-30",
}
OPTOUT = "webshop checkout: unticked box 'No offers by email'"


def write_csv(tmp_path, rows: list[dict], name: str = "people.csv") -> Path:
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        writer.writeheader()
        writer.writerows(rows)
    return path


def cli_import(runner, path: Path, basis: str = "consent", *extra: str):
    """Run the command as an operator would in a script; returns (exit code, report, output)."""
    args = ["subscribers", "import", str(path), "--basis", basis, "--source", SOURCE]
    result = runner.invoke(args=[*args, "--own-contacts", *extra])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    report = json.loads(result.output) if result.exit_code == 0 else None
    return result.exit_code, report, result.output


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def reasons(report) -> dict[int, str]:
    return {row["line"]: row["reason"] for row in report["skipped"]}


# --- the documented example files --------------------------------------------------------


def documented_examples() -> dict[str, str]:
    """The CSV blocks of docs/IMPORTS.md, by the example file named just above each."""
    text = (ROOT / "docs" / "IMPORTS.md").read_text(encoding="utf-8")
    found = {}
    for block in re.finditer(r"```csv\n(.*?)```", text, re.S):
        names = re.findall(r"`(import-example-[a-z]+\.csv)`", text[: block.start()])
        found[names[-1]] = block.group(1)
    return found


def test_docs_show_the_example_files_and_they_import_with_their_evidence(
    runner, make_topic, tmp_path
):
    examples = documented_examples()
    assert set(examples) == {"import-example-consent.csv", "import-example-customers.csv"}
    for name, text in examples.items():
        assert (STATIC / name).read_text(encoding="utf-8") == text, name
    make_topic("offers", "Offers", own_similar_products=True)
    with clock.frozen(NOW):
        code, report, _ = cli_import(runner, STATIC / "import-example-consent.csv")
        assert (code, report["counts"]["active"], report["skipped"]) == (0, 2, [])
        path = STATIC / "import-example-customers.csv"
        code, report, _ = cli_import(runner, path, "existing-customer")
        assert (code, report["counts"]["customer"], report["skipped"]) == (0, 2, [])
    example = next(csv.DictReader(io.StringIO(examples["import-example-consent.csv"])))
    result = runner.invoke(args=["subscribers", "export", example["email"]])
    [event] = [e for e in json.loads(result.output)["consent_events"] if e["kind"] == "import"]
    shown = event["import_evidence"]
    for column in ("consent_text", "consent_where", "consent_how", "consent_system"):
        assert shown[column] == example[column]
    assert shown["given_at"].startswith(example["consented_at"])
    assert (shown["basis"], shown["declared_by"]) == ("consent", "cli")
    assert "Every person in this file gave their consent to" in event["detail"]["declaration"]


# --- existing customers --------------------------------------------------------------------


def test_a_customer_whose_last_purchase_was_in_2021_is_not_imported(
    runner, make_topic, tmp_path, outbox
):
    make_topic("offers", own_similar_products=True)
    rows = [
        {"email": "old@example.org", "topics": "offers", "purchased_at": "2021-05-01"},
        {"email": "new@example.org", "topics": "offers", "purchased_at": "2025-05-01"},
    ]
    for row in rows:
        row["optout_offered"] = OPTOUT
    with clock.frozen(NOW):
        code, report, _ = cli_import(runner, write_csv(tmp_path, rows), "existing-customer")
    assert code == 0
    assert reasons(report) == {
        2: "purchase of 2021-05-01 is older than CUSTOMER_BASIS_DAYS (730 days): no longer an "
        "existing customer"
    }
    assert report["counts"]["customer"] == 1
    emails = db.session.scalars(select(Subscriber.email)).all()
    assert emails == ["new@example.org"]
    assert outbox() == []


def test_a_customer_row_must_say_how_the_optout_was_offered_at_collection(
    runner, make_topic, tmp_path
):
    make_topic("offers", own_similar_products=True)
    rows = [
        {"email": "a@example.org", "topics": "offers", "purchased_at": "2025-05-01"},
        {"email": "b@example.org", "topics": "offers", "purchased_at": "2025-05-01"},
    ]
    rows[1]["optout_offered"] = OPTOUT
    with clock.frozen(NOW):
        code, report, _ = cli_import(runner, write_csv(tmp_path, rows), "existing-customer")
    assert code == 0
    assert "optout_offered is empty" in reasons(report)[2]
    assert "ePrivacy 13(2)" in reasons(report)[2]
    [evidence] = db.session.scalars(select(ImportEvidence)).all()
    assert (evidence.basis, evidence.optout_offered) == (Basis.EXISTING_CUSTOMER, OPTOUT)


def test_a_lapsed_customer_basis_leaves_a_marker_and_the_same_purchase_cannot_return(
    app, runner, make_topic, tmp_path
):
    make_topic("offers", own_similar_products=True)
    row = {
        "email": "cat@example.org",
        "topics": "offers",
        "purchased_at": "2026-02-01",
        "optout_offered": OPTOUT,
    }
    path = write_csv(tmp_path, [row])
    with at(NOW):
        assert cli_import(runner, path, "existing-customer")[1]["counts"]["customer"] == 1
    lapse = aware(2026, 2, 1) + 731 * DAY
    assert run_job("customer-basis-lapses", lapse) == 1
    db.session.expire_all()
    assert count(Subscriber) == 0
    [marker] = db.session.scalars(select(LapsedBasis)).all()
    assert marker.address_hash == address_hash("cat@example.org")
    assert (marker.basis, marker.evidence_date) == (Basis.EXISTING_CUSTOMER, aware(2026, 2, 1))
    assert marker.lapsed_at == lapse
    assert [r for r in rows_mentioning("cat@example.org") if "lapsed_basis" in r] == []

    # Under the same CUSTOMER_BASIS_DAYS the purchase is too old anyway; the marker is
    # what holds when the period is lengthened afterwards (or a date is re-typed).
    app.config["CUSTOMER_BASIS_DAYS"] = 1500
    with at(lapse + DAY):
        code, report, _ = cli_import(runner, path, "existing-customer")
        assert reasons(report) == {
            2: "the existing-customer basis of this person lapsed on "
            f"{lapse.date().isoformat()} (evidence of 2026-02-01); only a newer "
            "purchased_at can bring them back"
        }
        assert count(Subscriber) == 0
        newer = write_csv(tmp_path, [{**row, "purchased_at": "2028-01-15"}], "newer.csv")
        code, report, _ = cli_import(runner, newer, "existing-customer")
    assert (code, report["counts"]["customer"]) == (0, 1)


def test_a_customer_keeping_consented_lists_still_leaves_the_marker(
    app, runner, make_topic, make_subscriber, tmp_path
):
    make_topic("offers", own_similar_products=True)
    make_subscriber("dan@example.org", topics=("newsletter",), consented_at=NOW)
    row = {
        "email": "dan@example.org",
        "topics": "offers",
        "purchased_at": "2026-02-01",
        "optout_offered": OPTOUT,
    }
    path = write_csv(tmp_path, [row])
    with at(NOW):
        assert cli_import(runner, path, "existing-customer")[1]["counts"]["updated"] == 1
    lapse = aware(2026, 2, 1) + 731 * DAY
    assert run_job("customer-basis-lapses", lapse) == 1
    db.session.expire_all()
    dan = db.session.scalar(select(Subscriber))
    assert [s.topic.slug for s in dan.subscriptions] == ["newsletter"]
    app.config["CUSTOMER_BASIS_DAYS"] = 1500
    with at(lapse + DAY):
        code, report, _ = cli_import(runner, path, "existing-customer")
    assert "basis of this person lapsed" in reasons(report)[2]
    db.session.expire_all()
    assert [s.topic.slug for s in db.session.scalar(select(Subscriber)).subscriptions] == [
        "newsletter"
    ]


def test_consent_that_lapsed_at_reconsent_is_not_imported_again(
    runner, make_subscriber, tmp_path, outbox
):
    start = clock.utcnow().replace(microsecond=0)
    make_subscriber("eve@example.org", consented_at=start)
    asked = start + 730 * DAY + timedelta(minutes=1)
    assert run_job("reconsent-requests", asked) == 1
    assert run_job("reconsent-lapses", asked + 31 * DAY) == 1
    row = {"email": "eve@example.org", "consented_at": start.date().isoformat()}
    with at(asked + 32 * DAY):
        code, report, _ = cli_import(runner, write_csv(tmp_path, [{**row, **CONSENT_EVIDENCE}]))
    assert reasons(report) == {2: "address is suppressed (lapsed); never re-added"}
    assert count(Subscriber) == 0
    assert db.session.scalar(select(Suppression.reason)) == "lapsed"


def test_import_evidence_goes_with_its_event_at_the_end_of_the_retention(app, runner, tmp_path):
    row = {"email": "fay@example.org", "consented_at": "2026-01-10", **CONSENT_EVIDENCE}
    with at(NOW):
        cli_import(runner, write_csv(tmp_path, [row]))
        assert runner.invoke(args=["subscribers", "erase", "fay@example.org"]).exit_code == 0
    assert count(ImportEvidence) == 1
    days = app.config["CONSENT_EVIDENCE_RETENTION_DAYS"]
    run_job("retention-consent-evidence", NOW + (days + 1) * DAY)
    db.session.expire_all()
    assert (count(ConsentEvent), count(ImportEvidence)) == (0, 0)


# --- the admin, CSRF on ----------------------------------------------------------------------


@pytest.fixture
def app_config(app_config, tmp_path):
    # CSRF on, the default: every form is posted with its token, as people run it.
    return {
        **app_config,
        "IMPORT_UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "WTF_CSRF_ENABLED": True,
    }


@pytest.fixture
def admin(client, admin_user):
    form = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": token(client)}
    assert client.post("/admin/login", data=form).status_code == 302
    return client


def token(client, url: str = "/admin/login") -> str:
    html = client.get(url).text
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)


def upload(admin, content: bytes, basis: str = "consent", **fields):
    data = {
        "file": (io.BytesIO(content), "people.csv"),
        "basis": basis,
        "source": SOURCE,
        "own_contacts": "y",
        "csrf_token": token(admin, "/admin/import"),
        **fields,
    }
    return admin.post("/admin/import", data=data, content_type="multipart/form-data")


def test_admin_offers_both_example_files_for_download(admin, client):
    page = admin.get("/admin/import").text
    links = re.findall(r'href="(/admin/import/example/[^"]+\.csv)" download', page)
    assert links == [
        "/admin/import/example/consent.csv",
        "/admin/import/example/existing-customer.csv",
    ]
    for link, name in zip(links, ("consent", "customers"), strict=True):
        response = admin.get(link)
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        example = (STATIC / f"import-example-{name}.csv").read_bytes()
        assert response.data == example
        response.close()
    assert admin.get("/admin/import/example/bought-list.csv").status_code == 404


def test_admin_example_files_need_a_login(app):
    response = app.test_client().get("/admin/import/example/consent.csv")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_admin_import_requires_the_declaration_checkbox(admin):
    page = admin.get("/admin/import").text
    checkbox = re.search(r'<input[^>]*name="own_contacts"[^>]*>', page).group(0)
    assert "required" in checkbox
    assert "Every person in this file gave their consent to, or bought from, Demo Shop" in page
    assert "no consent taken from a pre-ticked box" in page
    content = (STATIC / "import-example-consent.csv").read_bytes()
    for source in ("list purchased from MarketingCo", "our own shop's customers 2025"):
        response = upload(admin, content, source=source, own_contacts="")
        assert response.status_code == 400
        assert "Confirm that every person in the file" in response.text
    assert count(Subscriber) == 0


def test_admin_import_keeps_the_evidence_and_who_declared(admin, outbox):
    with clock.frozen(NOW):
        content = (STATIC / "import-example-consent.csv").read_bytes()
        content += b"nobody@example.org,No Evidence,newsletter,en,2025-06-01,,,,,\n"
        preview = upload(admin, content)
        assert preview.status_code == 200
        assert re.search(
            r"<td>nobody@example.org</td>\s*<td>skipped</td><td>no evidence of consent",
            preview.text,
        )
        form = {n: hidden(preview.text, n) for n in ("csrf_token", "upload", "basis", "source")}
        done = admin.post("/admin/import/confirm", data={**form, "own_contacts": "y"})
    assert done.status_code == 200
    assert "No mail was sent." in done.text
    evidence = db.session.scalars(select(ImportEvidence).order_by(ImportEvidence.id)).all()
    assert [e.declared_by for e in evidence] == [ADMIN_EMAIL, ADMIN_EMAIL]
    assert evidence[1].consent_text_ref.startswith("paper form v2")
    assert count(Subscriber) == 2
    assert outbox() == []
