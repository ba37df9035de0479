"""The admin pages pass axe-core (no serious or critical violation) in Chromium."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from newsletter import campaigns, subscriptions
from newsletter.extensions import db
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD


@pytest.fixture
def app_config(live_app_config):
    return live_app_config


def _serious(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_admin_pages_have_no_serious_accessibility_violations(
    live_server, page, admin_user, make_subscriber
):
    person = make_subscriber("ann@example.org", name="Ann")
    topic = subscriptions.topics_by_slug(["newsletter"])[0]
    draft = campaigns.create_campaign("Hello", "Some **news**.", topic)
    db.session.commit()
    problems = {}
    page.goto(f"{live_server}/admin/login")
    problems.update({"login": f} if (f := _serious(page)) else {})
    page.get_by_label("Email address").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    paths = {
        "dashboard": "/admin/",
        "campaigns": "/admin/campaigns",
        "compose": "/admin/campaigns/new",
        "edit": f"/admin/campaigns/{draft.id}",
        "send": f"/admin/campaigns/{draft.id}/send",
        "progress": f"/admin/campaigns/{draft.id}/progress",
        "subscribers": "/admin/subscribers",
        "subscriber": f"/admin/subscribers/{person.public_id}",
        "erase": f"/admin/subscribers/{person.public_id}/erase",
        "topics": "/admin/topics",
        "topic": f"/admin/topics/{topic.id}",
        "consent texts": "/admin/consent-texts",
        "outbox": "/admin/outbox",
        "audit": "/admin/audit",
        "import": "/admin/import",
        "api tokens": "/admin/api-tokens",
    }
    for name, path in paths.items():
        page.goto(live_server + path)
        if name in ("compose", "edit"):
            page.locator("#preview-state", has_text="Up to date").wait_for()
        if found := _serious(page):
            problems[name] = found
    # a form sent back with errors
    page.goto(f"{live_server}/admin/campaigns/new")
    page.get_by_role("button", name="Save draft").click()
    problems.update({"compose errors": f} if (f := _serious(page)) else {})
    assert problems == {}
