"""The signup form on the business's own site (docs/EMBED.md): the admin's snippet posts
from an embed origin without a session, the framed page posts with its form token, and
every other cross-site post is refused as before. CSRF is on, over https."""

from __future__ import annotations

import html
import re

import flask_babel
import pytest
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import Subscriber
from tests.helpers import BASE_URL, confirm_path, shown_consent_text_id

SHOP = "https://shop.example"
CHECK_INBOX = {"en": "Check your inbox", "nl": "Kijk in uw mailbox", "fr": "Consultez votre"}
BACK = {
    "en": "Back to shop.example",
    "nl": "Terug naar shop.example",
    "fr": "Retour à shop.example",
}
CONSENT = {
    "en": "Yes, I want to receive the newsletter",
    "nl": "Ja, ik wil de nieuwsbrief per e-mail ontvangen",
    "fr": "Oui, je souhaite recevoir la lettre",
}


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True, "EMBED_ORIGINS": [SHOP]}


@pytest.fixture
def visitor(app):
    """A browser on the shop's site: no cookie of ours, requests over https."""
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    return client


def pending() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Subscriber))


def snippet(admin_client, lang: str) -> str:
    page = admin_client.get(f"/admin/embed?locale={lang}").text
    # The test's app context outlives each request, and Flask-Babel keeps the locale of
    # the first request on it: forget it, as a new request in a browser would.
    flask_babel.refresh()
    return html.unescape(
        re.search(r'<textarea id="snippet-form"[^>]*>(.*?)</textarea>', page, re.S)[1]
    )


def snippet_post(form_html: str, email: str) -> tuple[str, dict]:
    """What a browser posts from the pasted form: its action, the fields, ticked boxes."""
    action = re.search(r'action="([^"]+)"', form_html)[1]
    data = {
        "email": email,
        "topics": ["newsletter"],
        "consent": "y",
        "consent_text_id": shown_consent_text_id(form_html),
    }
    return html.unescape(action), data


@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_the_snippet_posted_from_an_embed_origin_is_a_double_opt_in(
    admin_client, visitor, outbox, lang
):
    form_html = snippet(admin_client, lang)
    assert 'type="checkbox" name="consent" value="y">' in form_html  # unticked
    assert CONSENT[lang] in form_html  # the current consent text, in the snippet's language
    assert f'{BASE_URL}/privacy"' in form_html
    action, data = snippet_post(form_html, f"ann-{lang}@example.org")
    assert action == f"{BASE_URL}/subscribe?lang={lang}"

    answer = visitor.post(action, data=data, headers={"Origin": SHOP, "Referer": f"{SHOP}/news"})
    assert answer.status_code == 200
    assert CHECK_INBOX[lang] in answer.text
    assert f'<a href="{SHOP}/news">{BACK[lang]}</a>' in answer.text
    (mail,) = outbox(f"ann-{lang}@example.org")
    assert pending() == 1  # pending until the link is used: still double opt-in
    assert visitor.get(confirm_path(mail)).status_code == 200  # the confirmation page


def test_the_answer_is_the_same_whatever_the_address(admin_client, visitor, make_subscriber):
    make_subscriber("known@example.org")
    action, data = snippet_post(snippet(admin_client, "en"), "known@example.org")
    known = visitor.post(action, data=data, headers={"Origin": SHOP})
    action, data = snippet_post(snippet(admin_client, "en"), "new@example.org")
    new = visitor.post(action, data=data, headers={"Origin": SHOP})
    assert known.status_code == new.status_code == 200
    assert known.text == new.text
    assert f'<a href="{SHOP}/">Back to shop.example</a>' in new.text  # no Referer: the origin


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "https://shop.example.evil.example"},
        {"Origin": "http://shop.example"},  # another scheme is another origin
        {"Origin": "null", "Referer": f"{SHOP}/news"},  # an opaque origin is no embed origin
        {"Origin": "https://evil.example", "Referer": f"{SHOP}/news"},
        {"Referer": "https://evil.example/page"},
        {},
    ],
)
def test_a_cross_site_post_from_anywhere_else_is_refused_as_before(
    admin_client, visitor, outbox, headers
):
    action, data = snippet_post(snippet(admin_client, "en"), "bob@example.org")
    answer = visitor.post(action, data=data, headers=headers)
    assert answer.status_code == 400
    assert "This form has expired" in answer.text
    assert pending() == 0
    assert outbox("bob@example.org") == []


def directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    pairs = (part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return {name: (rest[0] if rest else "") for name, *rest in pairs}


def test_only_the_embed_page_may_be_framed_and_only_by_the_embed_origins(app, visitor):
    embed = visitor.get("/embed/subscribe", headers={"Referer": f"{SHOP}/"})
    assert directives(embed)["frame-ancestors"] == f"'self' {SHOP}"
    assert "X-Frame-Options" not in embed.headers
    assert "<header" not in embed.text  # the form alone
    for path in ("/subscribe", "/privacy", "/"):
        other = visitor.get(path)
        assert directives(other)["frame-ancestors"] == "'none'"
        assert other.headers["X-Frame-Options"] == "DENY"
    app.config["EMBED_ORIGINS"] = []
    assert directives(visitor.get("/embed/subscribe"))["frame-ancestors"] == "'self'"


def framed_form(visitor, lang: str, referer: str = f"{SHOP}/") -> dict:
    page = visitor.get(f"/embed/subscribe?lang={lang}", headers={"Referer": referer}).text
    assert 'name="csrf_token"' not in page
    assert CONSENT[lang] in page
    return {
        "embed_token": re.search(r'name="embed_token" value="([^"]+)"', page)[1],
        "consent_text_id": shown_consent_text_id(page),
        "topics": ["newsletter"],
        "consent": "y",
    }


@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_the_framed_form_posts_without_cookies_and_links_back_to_the_site(
    app, visitor, outbox, lang
):
    data = {**framed_form(visitor, lang), "email": f"eve-{lang}@example.org"}
    visitor.delete_cookie("session")  # inside another site's frame, no cookie comes back
    answer = visitor.post(
        f"/embed/subscribe?lang={lang}",
        data=data,
        headers={"Origin": BASE_URL, "Referer": f"{BASE_URL}/embed/subscribe?lang={lang}"},
    )
    assert answer.status_code == 200
    assert CHECK_INBOX[lang] in answer.text
    assert f'<a href="{SHOP}/" target="_top">{BACK[lang]}</a>' in answer.text
    assert len(outbox(f"eve-{lang}@example.org")) == 1
    assert directives(answer)["frame-ancestors"] == f"'self' {SHOP}"


def test_the_framed_form_without_a_valid_token_or_from_elsewhere_is_refused(visitor, outbox):
    data = {**framed_form(visitor, "en"), "email": "mallory@example.org"}
    from_elsewhere = visitor.post(
        "/embed/subscribe", data=data, headers={"Origin": "https://evil.example"}
    )
    tampered = visitor.post(
        "/embed/subscribe",
        data={**data, "embed_token": data["embed_token"][:-2] + "xx"},
        headers={"Origin": BASE_URL},
    )
    assert from_elsewhere.status_code == tampered.status_code == 400
    assert pending() == 0
    assert outbox("mallory@example.org") == []


def test_a_framing_site_that_is_not_an_embed_origin_gets_no_link_back(visitor, outbox):
    data = {**framed_form(visitor, "en", referer="https://evil.example/"), "email": "x@example.org"}
    answer = visitor.post("/embed/subscribe", data=data, headers={"Origin": BASE_URL})
    assert answer.status_code == 200
    assert "Back to" not in answer.text
    assert "evil.example" not in answer.text


def test_the_admin_page_has_both_snippets_and_a_nav_link(admin_client, app):
    page = admin_client.get("/admin/embed?locale=nl").text
    assert 'href="/admin/embed"' in page  # in the navigation
    assert "https://shop.example" in page
    assert f'src="{BASE_URL}/embed/subscribe?lang=nl"' in html.unescape(page)
    app.config["EMBED_ORIGINS"] = []
    assert "NEWSLETTER_EMBED_ORIGINS" in admin_client.get("/admin/embed").text
