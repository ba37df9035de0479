"""Files as Excel writes them in Belgium and the Netherlands: "CSV UTF-8" is separated by
semicolons and starts with a byte order mark; a plain "CSV" is Windows-1252. Imported by
the command and by the admin (CSRF on, through the login form); each form error once.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import func, select

from newsletter import clock
from newsletter.extensions import db
from newsletter.models import Subscriber, Subscription, Topic
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, aware

# Excel's "CSV UTF-8 (comma delimited)" on a Dutch or Belgian Windows: BOM, semicolons,
# CRLF, and a cell holding the delimiter quoted.
# The consent evidence cells every row carries (docs/IMPORTS.md), a ";" quoted inside.
EVIDENCE = (
    '"Ja, stuur mij de nieuwsbrief; uitschrijven kan altijd.";'
    "https://oud.winkel.example/nieuwsbrief;dubbele opt-in op de oude site;Mailchimp"
)
EXCEL = (
    "\ufeffemail;name;topics;consented_at;"
    "consent_text;consent_where;consent_how;consent_system\r\n"
    f"ann@example.org;Ann Peeters;newsletter;2025-06-01;{EVIDENCE}\r\n"
    f'zoe@example.be;Zoë Dubois;"newsletter;offers";2025-07-15;{EVIDENCE}\r\n'
    f"jan@example.nl;Jan de Vries;newsletter,offers;2025-08-01;{EVIDENCE}\r\n"
    f"not-an-address;Broken;newsletter;2025-06-01;{EVIDENCE}\r\n"
).encode()
SOURCE = "webshop checkout 2025, newsletter box ticked"


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen(aware(2026, 3, 2, 12)):
        yield


@pytest.fixture
def app_config(app_config, tmp_path):
    # CSRF on, the default: the admin's forms are posted with their tokens.
    return {
        **app_config,
        "IMPORT_UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "WTF_CSRF_ENABLED": True,
    }


@pytest.fixture
def offers(make_topic):
    return make_topic("offers", "Offers")


def people() -> dict[str, tuple[str | None, list[str]]]:
    db.session.expire_all()
    found = {}
    for person in db.session.scalars(select(Subscriber)):
        slugs = db.session.scalars(
            select(Topic.slug).join(Subscription).where(Subscription.subscriber_id == person.id)
        )
        found[person.email] = (person.name, sorted(slugs))
    return found


EXPECTED = {
    "ann@example.org": ("Ann Peeters", ["newsletter"]),
    "zoe@example.be": ("Zoë Dubois", ["newsletter", "offers"]),
    "jan@example.nl": ("Jan de Vries", ["newsletter", "offers"]),
}


def cli_import(runner, tmp_path, content: bytes, *extra):
    path = tmp_path / "people.csv"
    path.write_bytes(content)
    args = ["subscribers", "import", str(path), "--basis", "consent", "--source", SOURCE]
    return runner.invoke(args=[*args, "--own-contacts", *extra])


def test_cli_imports_excels_semicolon_csv_with_a_bom(runner, tmp_path, offers):
    result = cli_import(runner, tmp_path, EXCEL)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["counts"]["active"] == 3
    assert report["skipped"] == [{"line": 5, "reason": report["skipped"][0]["reason"]}]
    assert "not-an-address" not in result.output  # the report holds no address
    assert people() == EXPECTED


def test_cli_refuses_a_windows_1252_file_saying_how_to_save_it(runner, tmp_path, offers):
    content = "email;name\r\nann@example.org;Ann\r\nzoe@example.be;Zoë Dubois\r\n"
    result = cli_import(runner, tmp_path, content.encode("cp1252"))
    assert result.exit_code == 1
    assert "The file is not UTF-8 text (it holds the byte 0xEB)" in result.output
    assert 'choose "CSV UTF-8"' in result.output
    assert "Nothing was imported." in result.output
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_cli_names_what_it_found_when_no_email_column(runner, tmp_path):
    result = cli_import(runner, tmp_path, b"mail|name\nann@example.org|Ann\n")
    assert result.exit_code == 1
    assert "including 'email' (found 'mail|name')" in result.output


# --- the admin, CSRF on ------------------------------------------------------------------


@pytest.fixture
def admin(client, admin_user):
    form = {
        "email": ADMIN_EMAIL,
        "password": ADMIN_PASSWORD,
        "csrf_token": token(client, "/admin/login"),
    }
    assert client.post("/admin/login", data=form).status_code == 302
    return client


def token(client, url: str) -> str:
    html = client.get(url).text
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def upload(admin, content: bytes, **fields):
    data = {
        "file": (io.BytesIO(content), "people.csv"),
        "basis": "consent",
        "source": SOURCE,
        "own_contacts": "y",
        "csrf_token": token(admin, "/admin/import"),
        **fields,
    }
    return admin.post("/admin/import", data=data, content_type="multipart/form-data")


def hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)


def test_admin_previews_and_imports_an_excel_file(admin, offers):
    preview = upload(admin, EXCEL)
    assert preview.status_code == 200, preview.text
    for address in EXPECTED:
        assert re.search(rf"<td>{re.escape(address)}</td>\s*<td>active</td>", preview.text)
    assert re.search(r"<td>not-an-address</td>\s*<td>skipped</td>", preview.text)
    form = {n: hidden(preview.text, n) for n in ("csrf_token", "upload", "basis", "source")}
    done = admin.post("/admin/import/confirm", data={**form, "own_contacts": "y"})
    assert done.status_code == 200
    assert "<h1>Import done</h1>" in done.text
    assert "<tr><td>5</td><td>" in done.text  # the skipped line, with its reason
    assert people() == EXPECTED


def test_admin_explains_a_windows_1252_file_once_and_imports_nothing(admin):
    response = upload(admin, "email;name\r\nzoe@example.be;Zoë\r\n".encode("cp1252"))
    assert response.status_code == 400
    assert response.text.count("The file is not UTF-8 text") == 1
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_each_import_form_error_is_shown_once(admin):
    response = upload(admin, EXCEL, source="shop", own_contacts="")
    assert response.status_code == 400
    summary = re.search(r'<div class="error-summary" role="alert">.*?</div>', response.text, re.S)
    items = re.findall(r"<li>(.*?)</li>", summary.group(0))
    assert len(items) == len(set(items)) >= 1
    assert any("Describe where these people came from" in item for item in items)
    missing_file = admin.post(
        "/admin/import",
        data={"basis": "consent", "source": SOURCE, "csrf_token": token(admin, "/admin/import")},
        content_type="multipart/form-data",
    )
    assert missing_file.status_code == 400
    assert missing_file.text.count("Choose a CSV file.") == 1
