"""Admin accounts, login, logout, the login rate limit, and pages behind login."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import AdminUser, AuditEntry
from newsletter.views.admin.auth import OPEN_ENDPOINTS
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD


def login(client, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, **extra):
    return client.post("/admin/login", data={"email": email, "password": password, **extra})


def test_admin_create_reads_password_from_stdin_and_hashes_it(runner, client):
    result = runner.invoke(
        args=["admin", "create", "Owner@Shop.Example"], input="a long passphrase 42\n"
    )
    assert result.exit_code == 0, result.output
    assert "owner@shop.example created" in result.output
    admin = db.session.scalar(select(AdminUser))
    assert admin.email == "owner@shop.example"
    assert admin.password_hash.startswith("$argon2id$")
    assert "a long passphrase 42" not in admin.password_hash
    response = login(client, "owner@shop.example", "a long passphrase 42")
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "The password is empty."),
        ("   ", "The password is empty."),
        ("short1!", "too short"),
        ("aaaaaaaaaaaaaaaa", "too few different characters"),
        ("password1234", "common passwords"),
        ("owner-secret-2026", "must not contain the account's address"),
    ],
)
def test_admin_create_refuses_weak_passwords_with_a_reason(runner, password, message):
    result = runner.invoke(args=["admin", "create", "owner@shop.example"], input=password + "\n")
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.scalar(select(AdminUser)) is None


def test_admin_create_refuses_a_bad_address_and_a_duplicate(runner, admin_user):
    bad = runner.invoke(args=["admin", "create", "not-an-address"], input="a long passphrase 42\n")
    assert bad.exit_code != 0
    assert "Not a valid email address" in bad.output
    again = runner.invoke(
        args=["admin", "create", ADMIN_EMAIL.upper()], input="another passphrase 7\n"
    )
    assert again.exit_code != 0
    assert "exists already" in again.output
    assert len(db.session.scalars(select(AdminUser)).all()) == 1


def test_login_page_explains_how_to_create_the_first_admin(client):
    page = client.get("/admin/login")
    assert page.status_code == 200
    assert "There is no admin account yet" in page.text
    assert "flask admin create" in page.text


def test_login_page_has_no_first_admin_hint_once_one_exists(client, admin_user):
    assert "There is no admin account yet" not in client.get("/admin/login").text


def test_login_with_the_right_password_opens_the_dashboard(client, admin_user):
    response = login(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    dashboard = client.get("/admin/")
    assert dashboard.status_code == 200
    assert "Subscribers per topic" in dashboard.text
    db.session.expire_all()
    assert db.session.get(AdminUser, admin_user.id).last_login_at is not None
    assert db.session.scalar(select(AuditEntry.action)) == "admin.login"


@pytest.mark.parametrize(
    ("email", "password"),
    [(ADMIN_EMAIL, "wrong password here"), ("nobody@shop.example", ADMIN_PASSWORD), ("x", "y")],
)
def test_login_failure_says_the_same_whatever_was_wrong(client, admin_user, email, password):
    response = login(client, email, password)
    assert response.status_code == 401
    assert "Wrong address or password." in response.text
    assert client.get("/admin/").status_code == 302


def test_login_follows_only_local_next_paths(client, admin_user):
    assert login(client, next="/admin/topics").headers["Location"] == "/admin/topics"
    client.post("/admin/logout")
    for evil in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        assert login(client, next=evil).headers["Location"] == "/admin/"
        client.post("/admin/logout")


def test_every_admin_page_requires_login(app, client):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.")]
    assert len(rules) > 8
    for rule in rules:
        if rule.endpoint in OPEN_ENDPOINTS:  # login, its code step, an invitation link
            continue
        url = rule.build({arg: "1" for arg in rule.arguments})[1]
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(url, method=method)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/admin/login"), url


def test_logout_is_a_post_and_ends_the_session(admin_client):
    assert admin_client.get("/admin/logout").status_code == 405
    assert admin_client.get("/admin/").status_code == 200
    response = admin_client.post("/admin/logout")
    assert response.status_code == 302
    assert admin_client.get("/admin/").status_code == 302


def test_login_attempts_are_rate_limited_per_ip(client, admin_user):
    statuses = [login(client, password="wrong password here").status_code for _ in range(5)]
    assert statuses == [401] * 5
    blocked = login(client)  # even the right password waits now
    assert blocked.status_code == 429
    assert client.get("/admin/login").status_code == 200  # the page itself stays readable
