"""The admin in Debian's Chromium, served over HTTP on loopback with CSRF on and the
default http BASE_URL of `flask run` (live_app_config): the CSV import ends on its full
report, and the compose page's recipient count follows the chosen topic.

The import is served by a real server thread: each request has its own application
context and database session, as in production (the test client shares the test's,
which hid the blank report page).
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Subscriber, SubscriberStatus
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.test_import_excel import EXCEL, SOURCE

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/bin/chromium") and not os.environ.get("CI"),
    reason="Debian chromium is not installed (CI installs it)",
)


@pytest.fixture
def app_config(live_app_config, tmp_path):
    return {**live_app_config, "IMPORT_UPLOAD_FOLDER": str(tmp_path / "uploads")}


@pytest.fixture
def admin_page(live_server, admin_user, page):
    page.set_default_timeout(15_000)
    page.goto(f"{live_server}/admin/")
    page.get_by_label("Email address").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    return page


def test_admin_imports_an_excel_file_and_sees_the_whole_report(admin_page, make_topic):
    make_topic("offers", "Offers")
    page = admin_page
    page.get_by_role("link", name="Import").click()
    page.get_by_label("CSV file (UTF-8)").set_input_files(
        {"name": "klanten.csv", "mimeType": "text/csv", "buffer": EXCEL}
    )
    page.get_by_label("Where these people came from").fill(SOURCE)
    page.get_by_label("Every person in this file").check()
    page.get_by_role("button", name="Preview the import").click()
    page.get_by_role("heading", name="Import preview").wait_for()
    assert page.locator("tr.outcome-active").count() == 3
    page.get_by_role("button", name="Import these rows").click()
    page.get_by_role("heading", name="Import done").wait_for()
    # The report is streamed: its last link arrives after every row of the table.
    page.get_by_role("link", name="Import another file").wait_for()
    skipped = page.locator("table.import-rows tbody tr")
    assert skipped.count() == 1
    assert skipped.first.locator("td").first.inner_text() == "5"
    assert page.get_by_role("button", name="Sign out").is_visible()  # the whole page
    db.session.expire_all()
    names = db.session.scalars(select(Subscriber.name).order_by(Subscriber.email))
    assert list(names) == ["Ann Peeters", "Jan de Vries", "Zoë Dubois"]


def test_compose_count_follows_the_chosen_topic_before_saving(
    admin_page, make_topic, make_subscriber
):
    make_topic("offers", "Offers")
    make_subscriber("ann@example.org", topics=("newsletter", "offers"))
    make_subscriber("bob@example.org", topics=("newsletter",))
    make_subscriber("cat@example.org", topics=("offers",), status=SubscriberStatus.PENDING)
    page = admin_page
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    count = page.locator("#recipients")
    assert page.get_by_label("Topic").input_value() == "newsletter"
    assert count.inner_text().startswith("Goes to 2 people ")  # first render, unsaved
    page.get_by_label("Topic").select_option(label="Offers")
    assert count.inner_text().startswith("Goes to 1 person ")  # cat has not confirmed
    page.get_by_label("Topic").select_option(label="Newsletter")
    assert count.inner_text().startswith("Goes to 2 people ")


def test_failure_reports_have_no_serious_accessibility_violations(
    admin_page, live_server, make_campaign, make_subscriber
):
    """Rendering only (the sending that leads here is tested in test_admin_failures.py):
    a sent campaign's rows as the sender leaves them, one of each kind of reason."""
    from newsletter.clock import utcnow
    from newsletter.models import CampaignStatus, Delivery, DeliveryStatus
    from tests.helpers import serious_violations

    campaign = make_campaign()
    outcomes = {
        "ann@example.org": (DeliveryStatus.SENT, None),
        "bob@example.org": (DeliveryStatus.FAILED, "550 5.1.1 no such user"),
        "cat@example.org": (DeliveryStatus.FAILED, "refused: the footer is missing"),
        "dan@example.org": (DeliveryStatus.SKIPPED, "no lawful basis any more"),
    }
    for address, (status, reason) in outcomes.items():
        person = make_subscriber(address)
        db.session.add(
            Delivery(
                campaign_id=campaign.id, subscriber_id=person.id, status=status, last_error=reason
            )
        )
    campaign.status, campaign.started_at = CampaignStatus.SENT, utcnow()
    campaign.stats = {"total": 4, "counts": {"sent": 1, "failed": 2, "skipped": 1}}
    db.session.commit()
    page = admin_page
    problems = {}
    cat = db.session.scalar(select(Subscriber).where(Subscriber.email == "cat@example.org"))
    for name, path in {
        "campaigns": "/admin/campaigns",
        "progress": f"/admin/campaigns/{campaign.id}/progress",
        "subscriber": f"/admin/subscribers/{cat.public_id}",
    }.items():
        page.goto(live_server + path)
        if found := serious_violations(page):
            problems[name] = found
    assert problems == {}
    page.goto(f"{live_server}/admin/campaigns")
    assert page.locator(".badge-warning").inner_text() == "sent with 2 failed"
