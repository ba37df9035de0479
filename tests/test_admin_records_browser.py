"""The privacy records pages in Chromium: axe-core finds no serious violation, and an
admin records a breach and downloads the consent register with the real forms."""

from __future__ import annotations

import csv
import io

import pytest

from newsletter import breaches
from newsletter.extensions import db
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, serious_violations


@pytest.fixture
def app_config(live_app_config):
    return {
        **live_app_config,
        "PROCESSORS": [{"name": "MailCorp", "purpose": "sends the newsletter", "country": "US"}],
    }


def test_privacy_records_pages_work_and_are_accessible(
    live_server, page, admin_user, make_subscriber
):
    make_subscriber("ann@example.org")
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email address").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    problems = {}
    page.get_by_role("link", name="Privacy records").click()
    page.get_by_role("heading", name="Privacy records").wait_for()
    problems.update({"records": f} if (f := serious_violations(page)) else {})

    with page.expect_download() as download:
        page.get_by_role("button", name="Consent register (CSV, 1 active subscriber)").click()
    register = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [(r["email"], r["event"]) for r in register] == [
        ("ann@example.org", "signup"),
        ("ann@example.org", "confirm"),
    ]

    page.get_by_role("link", name="Breach log (0 entries)").click()
    problems.update({"breach log": f} if (f := serious_violations(page)) else {})
    page.get_by_role("button", name="Add to the breach log").click()
    page.get_by_text("Give the date and time the breach was discovered.").first.wait_for()
    problems.update({"breach errors": f} if (f := serious_violations(page)) else {})
    page.get_by_label("When it was discovered (UTC)").fill("2026-05-02T08:30")
    page.get_by_label("What happened (nature of the breach)").fill("A mail went to the wrong list.")
    page.get_by_label("Categories of personal data and of people concerned").fill("names")
    page.get_by_label("Likely consequences for the people").fill("embarrassment")
    page.get_by_label("Measures taken or proposed").fill("apologised; list checked")
    page.get_by_label("Notified to the supervisory authority").check()
    page.get_by_role("button", name="Add to the breach log").click()
    page.get_by_text("added to the breach log").wait_for()
    problems.update({"breach entry": f} if (f := serious_violations(page)) else {})
    assert problems == {}
    db.session.expire_all()
    [entry] = breaches.entries()
    assert entry.authority_notified
    assert entry.recorded_by == ADMIN_EMAIL
