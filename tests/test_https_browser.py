"""Over HTTPS, in a real browser (Debian's Chromium through Playwright), with CSRF on and
every security header as in production: signup, confirm, preferences, "download my
data" and the admin login all work, in Dutch, French and English, in the two shapes
people run: the app serving TLS itself (an https BASE_URL), and behind a TLS-terminating
reverse proxy (the app on plain HTTP, NEWSLETTER_TRUSTED_PROXIES=1).

Why this is honest: nothing is relaxed. The configuration is the test default with
WTF_CSRF_ENABLED back on and BASE_URL set to the https address the browser really uses;
the certificate is self-signed, so the browser is told to accept it
(`ignore_https_errors`), which changes nothing in how it sends Origin, Referer or
cookies. The tokens of the subscriber links are checked never to reach another site.
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
import os
import ssl
import threading
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Subscriber
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, free_port, links_in, mail_text
from tests.live import CHROMIUM, CHROMIUM_ARGS
from tests.tls import self_signed_certificate, serve_http, serve_https, tls_proxy

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
    reason="Debian chromium is not installed (CI installs it)",
)
LANGS = ["nl", "fr", "en"]
BROWSER_LOCALE = {"nl": "nl-BE", "fr": "fr-BE", "en": "en-GB"}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=["direct", "proxy"])
def shape(request):
    return request.param


@pytest.fixture
def public_port():
    return free_port()


@pytest.fixture
def app_config(app_config, shape, public_port):
    config = {
        **app_config,
        "WTF_CSRF_ENABLED": True,
        "BASE_URL": f"https://127.0.0.1:{public_port}",
    }
    if shape == "proxy":
        config["TRUSTED_PROXIES"] = 1
    return config


@pytest.fixture
def site(app, shape, public_port, certificate):
    """The app reachable at its https BASE_URL, served in the chosen shape."""
    with ExitStack() as stack:
        if shape == "direct":
            url = stack.enter_context(serve_https(app, public_port, certificate))
        else:
            backend = free_port()
            stack.enter_context(serve_http(app, backend))
            url = stack.enter_context(tls_proxy(public_port, backend, certificate))
        assert url == app.config["BASE_URL"]
        yield url


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


class Visit:
    """A browser context in one language, watching every page and request it makes."""

    def __init__(self, browser, site: str, lang: str):
        self.site, self.lang = site, lang
        self.context = browser.new_context(
            ignore_https_errors=True, locale=BROWSER_LOCALE[lang], accept_downloads=True
        )
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.responses: list = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("response", lambda response: self.responses.append(response))

    def check_page(self, heading_msgid: str) -> None:
        """The page is in the visit's language, has that heading, and unique ids."""
        heading = self.page.locator("h1")
        heading.wait_for()
        assert heading.inner_text().strip() == translated(self.lang, heading_msgid)
        assert self.page.locator("html").get_attribute("lang") == self.lang
        ids = self.page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)")
        assert len(ids) == len(set(ids)), f"duplicate ids on {heading_msgid}: {sorted(ids)}"

    def submit(self, button_selector: str = "main form button[type=submit]") -> None:
        with self.page.expect_navigation():
            self.page.locator(button_selector).first.click()


def translated(lang: str, msgid: str) -> str:
    with force_locale(lang):
        text = gettext(msgid)
    if lang != "en":
        assert text != msgid, f"{msgid!r} has no {lang} translation"
    return text


def subscriber(address: str) -> Subscriber | None:
    db.session.expire_all()
    return db.session.scalar(select(Subscriber).where(Subscriber.email == address))


@pytest.mark.parametrize("lang", LANGS)
def test_subscriber_journey_over_https_with_csrf_on(
    site, browser, outbox, make_topic, lang, caplog
):
    make_topic("offers", "Offers")
    address = f"browser.{lang}@example.org"
    visit = Visit(browser, site, lang)
    page = visit.page

    page.goto(f"{site}/subscribe")
    visit.check_page("Subscribe to our mailing lists")
    page.fill("#email", address)
    page.check("input[name=topics][value=newsletter]")
    page.check("#consent")
    visit.submit()
    visit.check_page("Check your inbox")
    assert subscriber(address).locale == lang

    [message] = outbox(address)
    assert message["DKIM-Signature"] is None  # (DKIM is not configured here)
    confirm_url = next(u for u in links_in(mail_text(message)) if "/confirm/" in u)
    assert confirm_url.startswith(site + "/confirm/")
    page.goto(confirm_url)
    visit.check_page("Confirm your subscription")
    visit.submit()
    visit.check_page("You are subscribed")
    assert subscriber(address).status == "active"

    page.locator("main a", has_text=translated(lang, "Manage your subscription")).click()
    visit.check_page("Your subscription")
    preferences_url = page.url
    page.check("input[name=topics][value=offers]")
    page.check("#consent")  # adding a list is a consent: the box beside the text (issue 13)
    visit.submit("main form.card button[type=submit]")
    visit.check_page("Your choices are saved")
    slugs = {s.topic.slug for s in subscriber(address).subscriptions}
    assert slugs == {"newsletter", "offers"}

    page.goto(preferences_url)
    page.locator("form[action$='/export'] button").click()  # mails a download link
    visit.check_page("We have mailed you a link")
    [mailed] = [m for m in outbox(address) if "/export/" in mail_text(m)]
    page.goto(next(u for u in links_in(mail_text(mailed)) if "/export/" in u))
    visit.check_page("Download your data")
    with page.expect_download() as download:
        page.locator("main form button[type=submit]").click()
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert address in json.dumps(exported)

    # No form was refused, and the browser never fetched anything from another site.
    assert [r.url for r in visit.responses if r.status == 400] == []
    assert "form refused" not in caplog.text
    assert {urlsplit(u).netloc for u in visit.requests if not u.startswith("data:")} == {
        urlsplit(site).netloc
    }
    for response in visit.responses:
        if response.url.startswith(site) and "/static/" not in response.url:
            assert response.headers["referrer-policy"] == "same-origin"
            assert response.headers["strict-transport-security"].startswith("max-age=")
    assert all(cookie["secure"] for cookie in visit.context.cookies())
    visit.context.close()


@pytest.mark.parametrize("lang", LANGS)
def test_admin_login_over_https_with_csrf_on(site, browser, admin_user, lang):
    visit = Visit(browser, site, lang)
    page = visit.page
    page.goto(f"{site}/admin/login")
    page.fill("input[name=email]", ADMIN_EMAIL)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    visit.submit()
    assert urlsplit(page.url).path == "/admin/"
    assert page.locator("form[action$='/admin/logout'] button").is_visible()
    cookies = {c["name"]: c for c in visit.context.cookies()}
    assert cookies["session"]["secure"]
    assert cookies["session"]["httpOnly"]
    visit.context.close()


# --- the subscriber links' tokens never reach another site ------------------------------


class _Recorder:
    """A WSGI app on another origin remembering the Referer of every request."""

    def __init__(self):
        self.referers: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.referers.append((environ["PATH_INFO"], environ.get("HTTP_REFERER")))
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<!doctype html><title>elsewhere</title><h1>Elsewhere</h1>"]


@pytest.mark.parametrize("shape", ["direct"], indirect=True)
def test_a_link_to_another_site_sends_no_referer(app, site, browser, certificate, outbox):
    """The preferences page's URL holds a token: following a link to another site (the
    operator's own privacy policy page here, on another origin) must not send it."""
    recorder = _Recorder()
    other_port = free_port()
    with serve_https(recorder, other_port, certificate) as elsewhere:
        app.config["PRIVACY_POLICY_URL"] = f"{elsewhere}/privacy"
        visit = Visit(browser, site, "en")
        page = visit.page
        page.goto(f"{site}/subscribe")
        page.fill("#email", "ann@example.org")
        page.check("input[name=topics][value=newsletter]")
        page.check("#consent")
        visit.submit()
        [message] = outbox("ann@example.org")
        confirm_url = next(u for u in links_in(mail_text(message)) if "/confirm/" in u)
        page.goto(confirm_url)
        visit.submit()
        page.locator("main a").first.click()
        page.locator("h1").wait_for()
        assert "/preferences/" in page.url
        with page.expect_navigation():
            page.locator("footer a").click()
        assert page.locator("h1").inner_text() == "Elsewhere"
        visit.context.close()
    assert recorder.referers[0] == ("/privacy", None)
    assert not [referer for _path, referer in recorder.referers if site in (referer or "")]


# --- RFC 8058 one-click, and the refusals ------------------------------------------------


def _post(url: str, data: bytes, headers: dict) -> tuple[int, bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def test_one_click_unsubscribe_over_https_needs_no_cookie_origin_or_token(site, make_subscriber):
    """What a mailbox provider sends (RFC 8058 §3.2): a bare POST, nothing else."""
    from newsletter import links

    ann = make_subscriber("ann@example.org")
    url = links.unsubscribe_url(ann.public_id)
    assert url.startswith(site)
    status, _body = _post(
        url,
        b"List-Unsubscribe=One-Click",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200
    assert subscriber("ann@example.org") is None


def test_a_form_posted_from_another_site_is_refused_and_the_log_says_why(
    site, make_subscriber, caplog
):
    """A valid token and cookie (as a browser holds them) but an Origin of another site."""
    from newsletter import links

    ann = make_subscriber("ann@example.org")
    preferences = links.preferences_url(ann.public_id)
    token = urlsplit(preferences).path.rsplit("/", 1)[1]
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(jar)
    )
    with opener.open(preferences, timeout=10) as answer:
        page = answer.read().decode()
    csrf_token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    request = urllib.request.Request(
        preferences,
        data=f"csrf_token={csrf_token}&topics=newsletter".encode(),
        headers={"Origin": "https://evil.example", "Referer": "https://evil.example/x"},
        method="POST",
    )
    with caplog.at_level(logging.WARNING), pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 400
    [record] = [r for r in caplog.records if "form refused" in r.getMessage()]
    assert "public.preferences" in record.getMessage()
    assert "Origin header (https://evil.example) is not this site" in record.getMessage()
    # The app's own log (the test server's access log, werkzeug's, shows paths anyway).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("newsletter"))
    assert token not in ours
    assert "ann@example.org" not in ours
