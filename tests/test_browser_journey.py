"""End to end in a real browser (Debian chromium driven by Playwright):
signup -> confirmation mail -> confirm -> preferences -> unsubscribe."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Subscriber
from tests.helpers import links_in, mail_text


@pytest.fixture
def app_config(live_app_config):
    return live_app_config


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
    preferences_url = page.url
    page.get_by_role("button", name="Download my data").click()
    page.get_by_role("heading", name="We have mailed you a link").wait_for()
    [mailed] = [m for m in outbox("browser.user@example.org") if "/export/" in mail_text(m)]
    page.goto(next(u for u in links_in(mail_text(mailed)) if "/export/" in u))
    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    with open(download.value.path()) as exported:
        assert "browser.user@example.org" in exported.read()
    page.goto(preferences_url)

    page.get_by_role("link", name="Unsubscribe from all").click()
    page.get_by_role("button", name="Unsubscribe from all").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    db.session.expire_all()
    assert db.session.scalar(select(Subscriber)) is None
