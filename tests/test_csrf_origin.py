"""Form posts over HTTPS: the CSRF token, then the origin (security.check_request_origin).

CSRF is on here, and every request is made to the https BASE_URL (the test client's
`base_url`), directly or as a TLS-terminating proxy forwards it; the browser tests in
test_https_browser.py do the same with Chromium. Each refusal is logged with its reason.
"""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import Subscriber
from tests.helpers import BASE_URL

ORIGIN = BASE_URL  # https://news.example.test


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


@pytest.fixture
def https_client(app):
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    return client


def signup_form(client, lang: str = "en", base: str = BASE_URL, **get_kw) -> dict:
    # (The test's app context outlives each request, and Flask-Babel keeps the locale of
    # the first request on it: the form page is asked for in the same language.)
    page = client.get(f"{base}/subscribe?lang={lang}", **get_kw).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return {
        "csrf_token": token,
        "email": "ann@example.org",
        "topics": ["newsletter"],
        "consent": "y",
        "consent_text_id": "1",
    }


def pending() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Subscriber))


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": ORIGIN},
        {"Origin": ORIGIN, "Referer": f"{ORIGIN}/subscribe"},
        {"Referer": f"{ORIGIN}/subscribe?lang=nl"},  # a browser that sends no Origin
        {"Origin": "https://NEWS.example.test:443"},  # the same origin, spelt otherwise
    ],
)
def test_a_post_from_our_own_page_is_accepted(https_client, headers):
    form = signup_form(https_client)
    response = https_client.post(f"{BASE_URL}/subscribe", data=form, headers=headers)
    assert response.status_code == 200
    assert pending() == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "neither an Origin nor a Referer"),
        ({"Origin": "https://evil.example"}, "Origin header (https://evil.example) is not"),
        ({"Origin": "null"}, "Origin header (null) is not"),
        ({"Origin": "http://news.example.test"}, "Origin header (http://news.example.test)"),
        ({"Origin": "https://news.example.test.evil.example"}, "is not this site"),
        ({"Referer": "https://evil.example/page"}, "Referer header is from another site"),
        ({"Origin": "https://evil.example", "Referer": f"{ORIGIN}/subscribe"}, "evil.example"),
    ],
)
@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_a_post_from_elsewhere_is_refused_in_the_visitors_language_and_logged(
    https_client, caplog, headers, reason, lang
):
    form = signup_form(https_client, lang)
    with caplog.at_level(logging.WARNING, logger="newsletter"):
        response = https_client.post(
            f"{BASE_URL}/subscribe?lang={lang}", data=form, headers=headers
        )
    assert response.status_code == 400
    title = {"nl": "Dit formulier is verlopen", "fr": "Ce formulaire a expiré"}
    assert title.get(lang, "This form has expired") in response.text
    assert pending() == 0
    [record] = [r for r in caplog.records if "form refused" in r.getMessage()]
    assert "POST public.subscribe" in record.getMessage()
    assert reason in record.getMessage()
    assert "ann@example.org" not in record.getMessage()


def test_a_missing_token_is_logged_with_flask_wtfs_reason(https_client, caplog):
    form = signup_form(https_client)
    del form["csrf_token"]
    with caplog.at_level(logging.WARNING, logger="newsletter"):
        response = https_client.post(f"{BASE_URL}/subscribe", data=form, headers={"Origin": ORIGIN})
    assert response.status_code == 400
    assert "form refused (CSRF) on POST public.subscribe: The CSRF token is missing." in (
        caplog.text
    )


class TestBehindATlsProxy:
    """The app on plain HTTP; the proxy says https in X-Forwarded-Proto (trusted: 1 hop)."""

    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True, "TRUSTED_PROXIES": 1}

    FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}

    def test_accepted_from_the_public_origin(self, client):
        form = signup_form(client, headers=self.FORWARDED)
        response = client.post(
            "http://news.example.test/subscribe",
            data=form,
            headers={**self.FORWARDED, "Origin": ORIGIN},
        )
        assert response.status_code == 200
        assert pending() == 1

    def test_refused_from_another_site(self, client):
        form = signup_form(client, headers=self.FORWARDED)
        response = client.post(
            "http://news.example.test/subscribe",
            data=form,
            headers={**self.FORWARDED, "Origin": "https://evil.example"},
        )
        assert response.status_code == 400
        assert pending() == 0


def test_one_click_unsubscribe_needs_no_origin_token_or_cookie(app, make_subscriber):
    """RFC 8058 §3.2: the mailbox provider posts from its own servers, nothing else."""
    from newsletter import links

    ann = make_subscriber("ann@example.org")
    response = app.test_client().post(
        links.unsubscribe_url(ann.public_id),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert pending() == 0


def test_over_plain_http_the_token_decides(app, client):
    """The embedded default (a loopback http BASE_URL): no origin to compare over HTTP,
    as with Flask-WTF; a valid token is enough, a missing one is refused."""
    # What load_config derives from an http BASE_URL (the app fixture's is https).
    app.config.update(BASE_URL="http://127.0.0.1:5000", SESSION_COOKIE_SECURE=False)
    base = "http://127.0.0.1:5000"
    form = signup_form(client, base=base)
    assert client.post(f"{base}/subscribe", data=form).status_code == 200
    assert pending() == 1
    del form["csrf_token"]
    refused = client.post(f"{base}/subscribe", data=form, headers={"Origin": base})
    assert refused.status_code == 400
