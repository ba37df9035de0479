"""The subscriber pages pass axe-core (no serious or critical violation) in Chromium."""

from __future__ import annotations

import pytest

from newsletter import links, subscriptions
from newsletter.extensions import db
from tests.helpers import confirm_path, serious_violations


@pytest.fixture
def app_config(live_app_config):
    return live_app_config


def test_subscriber_pages_have_no_serious_accessibility_violations(
    live_server, page, outbox, make_subscriber
):
    subscriptions.request_signup(
        "pending@example.org", ["newsletter"], True, 1, subscriptions.Evidence("test")
    )
    db.session.commit()
    confirm = confirm_path(outbox()[0])
    subscriber = make_subscriber("active@example.org")
    paths = {
        "signup": "/subscribe",
        "embedded signup": "/embed/subscribe",
        "confirm": confirm,
        "preferences": links.preferences_url(subscriber.public_id).removeprefix(live_server),
        "unsubscribe": links.unsubscribe_url(subscriber.public_id).removeprefix(live_server),
        "privacy": "/privacy",
        "bad link": "/preferences/garbage",
    }
    problems = {}
    for name, path in paths.items():
        page.goto(live_server + path)
        found = serious_violations(page)
        if found:
            problems[name] = found
    # the pages reached after a form: errors on the signup form, and the thank-you pages
    page.goto(live_server + "/subscribe")
    page.get_by_role("button", name="Subscribe").click()
    problems.update({"signup errors": f} if (f := serious_violations(page)) else {})
    page.goto(live_server + confirm)
    page.get_by_role("button", name="Confirm").click()
    problems.update({"confirmed": f} if (f := serious_violations(page)) else {})
    assert problems == {}
