"""Admin pages: import upload -> preview of every row -> confirm; API tokens."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter import clock, imports
from newsletter.extensions import db
from newsletter.imports import upload_folder
from newsletter.models import AdminUser, ApiToken, AuditEntry, Subscriber
from tests.helpers import aware

EVIDENCE = "our form v1 (archived),https://shop.example/signup,double opt-in,old webshop"
CSV = (
    "email,topics,consented_at,consent_text_ref,consent_where,consent_how,consent_system\n"
    f"ann@example.org,newsletter,2025-06-01,{EVIDENCE}\n"
    "bob@example.org,newsletter,,,,,\n"  # no evidence: skipped, never mailed
    f"broken,newsletter,2025-06-01,{EVIDENCE}\n"
)


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen(aware(2026, 3, 2, 12)):
        yield


@pytest.fixture
def app_config(app_config, tmp_path):
    return {**app_config, "IMPORT_UPLOAD_FOLDER": str(tmp_path / "uploads")}


@pytest.fixture
def admin_client(client):
    admin = AdminUser(email="boss@shop.example", password_hash="not-used-here")
    db.session.add(admin)
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = str(admin.id)
        session["_fresh"] = True
    return client


def upload(client, text=CSV, basis="consent", source="webshop checkout 2025", declare=True):
    data = {
        "file": (io.BytesIO(text.encode()), "people.csv"),
        "basis": basis,
        "source": source,
    }
    if declare:
        data["own_contacts"] = "y"
    return client.post("/admin/import", data=data, content_type="multipart/form-data")


def hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)


def subscribers() -> int:
    return db.session.scalar(select(func.count()).select_from(Subscriber))


def waiting_files() -> list[Path]:
    return list(upload_folder().glob("*.csv")) if upload_folder().exists() else []


def test_preview_shows_every_row_and_writes_nothing(admin_client, outbox):
    response = upload(admin_client)
    assert response.status_code == 200
    html = response.text
    assert "Nothing has been written yet" in html
    for line, email, outcome in [
        (2, "ann@example.org", "active"),
        (3, "bob@example.org", "skipped"),
        (4, "broken", "skipped"),
    ]:
        assert re.search(rf"<td>{line}</td><td>{email}</td>\s*<td>{outcome}</td>", html)
    assert "invalid address" in html
    assert "no evidence of consent" in html
    assert subscribers() == 0
    assert outbox() == []
    assert len(waiting_files()) == 1


def test_confirm_imports_the_previewed_rows_and_deletes_the_upload(admin_client, outbox):
    preview = upload(admin_client).text
    form = {n: hidden(preview, n) for n in ("upload", "basis", "source", "own_contacts")}
    response = admin_client.post("/admin/import/confirm", data=form)
    assert response.status_code == 200
    assert "Import done" in response.text
    assert "invalid address" in response.text
    assert subscribers() == 1
    assert outbox() == []  # an import mails nobody
    assert "No mail was sent." in response.text
    assert waiting_files() == []
    entry = db.session.scalar(select(AuditEntry))
    assert (entry.actor, entry.action) == ("boss@shop.example", "import")
    again = admin_client.post("/admin/import/confirm", data=form)
    assert again.status_code == 302
    assert subscribers() == 1


def test_a_long_preview_lists_the_first_rows_and_counts_them_all(admin_client, monkeypatch):
    monkeypatch.setattr(imports.report, "KEPT_ROWS", 2)  # the report keeps 2 rows
    monkeypatch.setattr(imports, "KEPT_ROWS", 2)  # and the page says so
    html = upload(admin_client).text
    assert "The first 2 rows are listed" in html
    assert re.search(r"<td>3</td><td>bob@example.org</td>", html)
    assert "<td>broken</td>" not in html  # line 4: counted, not listed
    assert "<td>Skipped</td><td>2</td>" in html


def test_confirm_with_a_forged_upload_id_imports_nothing(admin_client):
    preview = upload(admin_client).text
    form = {n: hidden(preview, n) for n in ("upload", "basis", "source", "own_contacts")}
    form["upload"] = "../../etc/passwd"
    response = admin_client.post("/admin/import/confirm", data=form, follow_redirects=True)
    assert "preview has expired" in response.text
    assert subscribers() == 0


def test_cancel_deletes_the_upload(admin_client):
    preview = upload(admin_client).text
    response = admin_client.post(
        "/admin/import/cancel", data={"upload": hidden(preview, "upload")}, follow_redirects=True
    )
    assert "nothing was imported" in response.text
    assert waiting_files() == []
    assert subscribers() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"declare": False}, "Confirm that every person"),
        ({"text": "mail,name\nx,y\n"}, "including &#39;email&#39;"),
    ],
)
def test_refused_uploads_say_why_and_keep_nothing(admin_client, kwargs, message):
    response = upload(admin_client, **kwargs)
    assert response.status_code == 400
    assert message in response.text
    assert waiting_files() == []
    assert subscribers() == 0


def test_import_pages_need_a_login(app, client):
    if "admin.login" not in app.view_functions:
        pytest.skip("the login page comes with the admin branch")
    response = client.get("/admin/import")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_admin_creates_a_token_shown_once_and_revokes_it(admin_client):
    response = admin_client.post(
        "/admin/api-tokens", data={"name": "till", "scopes": ["objections:read"]}
    )
    assert response.status_code == 200
    secret = re.search(r'id="new-token">([^<]+)<', response.text).group(1)
    headers = {"Authorization": f"Bearer {secret}"}
    check = {"email": "a@example.org", "channel": "sms"}
    assert (
        admin_client.post("/api/v1/objections/check", json=check, headers=headers).status_code
        == 200
    )
    assert secret not in admin_client.get("/admin/api-tokens").text
    admin_client.post("/admin/api-tokens/till/revoke")
    assert db.session.scalar(select(ApiToken)).revoked_at is not None
    assert (
        admin_client.post("/api/v1/objections/check", json=check, headers=headers).status_code
        == 401
    )


def test_admin_token_form_errors_are_shown(admin_client):
    response = admin_client.post("/admin/api-tokens", data={"name": "bad name!", "scopes": []})
    assert response.status_code == 400
    assert "Name the token" in response.text


def test_unconfirmed_uploads_are_deleted_after_an_hour(admin_client, runner):
    upload(admin_client)
    [waiting] = waiting_files()
    saved = datetime.fromtimestamp(waiting.stat().st_mtime, UTC)
    soon = (saved + timedelta(minutes=30)).isoformat()
    result = runner.invoke(args=["jobs", "run-due", "--as-of", soon])
    assert '"purge-import-uploads": 0' in result.output
    assert len(waiting_files()) == 1
    later = (saved + timedelta(minutes=61)).isoformat()
    later = runner.invoke(args=["jobs", "run-due", "--as-of", later])
    assert '"purge-import-uploads": 1' in later.output
    assert waiting_files() == []
