"""End to end in a real browser (Debian chromium driven by Playwright):
signup -> confirmation mail -> confirm -> preferences -> unsubscribe."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from newsletter.extensions import db
from newsletter.models import Subscriber
from tests.conftest import free_port, mail_text
from tests.helpers import links_in

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
    reason="Debian chromium is not installed (CI installs it)",
)


@pytest.fixture
def app_config(app_config):
    port = free_port()
    return {
        **app_config,
        "WTF_CSRF_ENABLED": True,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "_PORT": port,
    }


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", app.config["_PORT"], app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app.config["BASE_URL"]
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser.new_page()
        browser.close()


def test_signup_confirm_preferences_unsubscribe_in_a_browser(live_server, page, outbox, tmp_path):
    page.goto(f"{live_server}/subscribe")
    page.get_by_label("Email address").fill("browser.user@example.org")
    page.get_by_label("Newsletter", exact=True).check()
    page.get_by_role("button", name="Subscribe").click()
    assert "tick the box" in page.content()  # consent box left unticked: refused, kept input
    assert page.get_by_label("Email address").input_value() == "browser.user@example.org"
    page.get_by_label("Newsletter", exact=True).check()
    page.locator("#consent").check()
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()

    [message] = outbox("browser.user@example.org")
    confirm_url = next(u for u in links_in(mail_text(message)) if "/confirm/" in u)
    page.goto(confirm_url)
    db.session.expire_all()
    assert db.session.scalar(select(Subscriber.status)) == "pending"  # GET changed nothing
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="You are subscribed").wait_for()
    db.session.expire_all()
    assert db.session.scalar(select(Subscriber.status)) == "active"

    page.get_by_role("link", name="Manage your subscription").click()
    page.get_by_role("heading", name="Your subscription").wait_for()
    assert page.get_by_label("Newsletter", exact=True).is_checked()
    page.screenshot(path=str(tmp_path / "preferences.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    with open(download.value.path()) as exported:
        assert "browser.user@example.org" in exported.read()

    page.get_by_role("link", name="Unsubscribe from all").click()
    page.get_by_role("button", name="Unsubscribe from all").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    db.session.expire_all()
    assert db.session.scalar(select(Subscriber)) is None
