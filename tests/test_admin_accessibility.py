"""The admin pages pass axe-core (no serious or critical violation) in Chromium."""

from __future__ import annotations

import pytest

from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, serious_violations


@pytest.fixture
def app_config(live_app_config):
    return live_app_config


def test_admin_pages_have_no_serious_accessibility_violations(
    live_server, page, admin_user, make_subscriber, make_campaign
):
    person = make_subscriber("ann@example.org", name="Ann")
    draft = make_campaign(subject="Hello", body="Some **news**.")
    problems = {}
    page.goto(f"{live_server}/admin/login")
    problems.update({"login": f} if (f := serious_violations(page)) else {})
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
        "topic": f"/admin/topics/{draft.topic_id}",
        "consent texts": "/admin/consent-texts",
        "signup form": "/admin/embed",
        "outbox": "/admin/outbox",
        "audit": "/admin/audit",
        "import": "/admin/import",
        "api tokens": "/admin/api-tokens",
        "media": "/admin/media",
        "branding": "/admin/branding",
    }
    for name, path in paths.items():
        page.goto(live_server + path)
        if name in ("compose", "edit"):
            page.locator("#preview-state", has_text="Up to date").wait_for()
        if found := serious_violations(page):
            problems[name] = found
    # a form sent back with errors
    page.goto(f"{live_server}/admin/campaigns/new")
    page.get_by_role("button", name="Save draft").click()
    problems.update({"compose errors": f} if (f := serious_violations(page)) else {})
    assert problems == {}
