"""Web security: response headers, cookies, and CSRF on every POST but the allowed ones."""

from __future__ import annotations

import re

import pytest
from werkzeug.routing import IntegerConverter

from newsletter import tokens

# The only POST endpoints that may work without a CSRF token (SPEC, issue 7 item 3):
# the RFC 8058 one-click target and the token-authenticated programs' endpoints.
CSRF_EXEMPT_ENDPOINTS = {"public.unsubscribe"}
CSRF_EXEMPT_BLUEPRINTS = {"api", "inbound"}
CSRF_MESSAGE = "This form has expired"


def directives(policy: str) -> dict[str, str]:
    pairs = (part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return {name: (rest[0] if rest else "") for name, *rest in pairs}


def assert_secure_headers(response, admin: bool = False):
    headers = response.headers
    policy = directives(headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert "unsafe-inline" not in policy["script-src"]
    assert "unsafe-eval" not in policy["script-src"]
    assert re.search(r"'nonce-[A-Za-z0-9_-]{16,}'", policy["script-src"])
    if not admin:
        assert "unsafe-inline" not in policy["style-src"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(
    "path",
    ["/", "/subscribe", "/privacy", "/no-such-page", "/confirm/garbage", "/unsubscribe/garbage"],
)
def test_every_page_carries_the_security_headers(client, path):
    response = client.get(path)
    assert_secure_headers(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_json_errors_and_static_files_carry_them_too(client):
    assert_secure_headers(client.post("/inbound/bounces", data=b"x"))
    static = client.get("/static/site.css")
    assert_secure_headers(static)
    assert "no-store" not in static.headers.get("Cache-Control", "")
    static.close()


def test_admin_pages_allow_inline_styles_for_previews_but_never_inline_scripts(client):
    response = client.get("/admin/", follow_redirects=False)
    assert_secure_headers(response, admin=True)


def test_each_response_gets_a_fresh_nonce(client):
    first = directives(client.get("/subscribe").headers["Content-Security-Policy"])
    second = directives(client.get("/subscribe").headers["Content-Security-Policy"])
    assert first["script-src"] != second["script-src"]


def test_no_hsts_on_plain_http_development(app, client):
    app.config["BASE_URL"] = "http://127.0.0.1:5000"
    assert "Strict-Transport-Security" not in client.get("/subscribe").headers


# --- cookies -------------------------------------------------------------------------------


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def test_session_cookie_is_secure_httponly_and_samesite(csrf_on, client):
    response = client.get("/subscribe")  # the form's CSRF token lives in the session
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "Secure" in cookie  # BASE_URL is https
    assert "SameSite=Lax" in cookie


def test_remember_cookie_settings(app):
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    assert app.config.get("REMEMBER_COOKIE_HTTPONLY", True) is True


# --- CSRF --------------------------------------------------------------------------------


def _example_url(rule) -> str:
    values = {
        name: 1 if isinstance(rule._converters.get(name), IntegerConverter) else "x"
        for name in rule.arguments
    }
    return rule.build(values, append_unknown=False)[1]


def _post_rules(app):
    return [rule for rule in app.url_map.iter_rules() if "POST" in rule.methods]


def _exempt(endpoint: str) -> bool:
    return endpoint in CSRF_EXEMPT_ENDPOINTS or endpoint.split(".")[0] in CSRF_EXEMPT_BLUEPRINTS


def test_every_post_endpoint_but_the_allowed_ones_requires_a_csrf_token(csrf_on, client):
    rules = _post_rules(csrf_on)
    assert len(rules) >= 6  # the walk really walks
    checked = []
    for rule in rules:
        response = client.post(_example_url(rule), data={"email": "a@example.org"})
        refused = response.status_code == 400 and CSRF_MESSAGE in response.get_data(as_text=True)
        assert refused != _exempt(rule.endpoint), (rule.endpoint, response.status_code)
        checked.append(rule.endpoint)
    assert "public.subscribe" in checked
    assert "public.unsubscribe" in checked


def test_one_click_unsubscribe_works_without_cookie_or_csrf_token(csrf_on, client, make_subscriber):
    subscriber = make_subscriber("ann@example.org")
    token = tokens.sign(tokens.UNSUBSCRIBE, subscriber.public_id)
    response = client.post(
        f"/unsubscribe/{token}",
        data={"List-Unsubscribe": "One-Click"},
        headers={"Cookie": ""},
    )
    assert response.status_code == 200
    assert_secure_headers(response)
