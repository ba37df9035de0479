"""What people do in the browser, step by step (subscriber and shop owner).

The subscriber steps find buttons and headings by the words the person reads, in their
language (tests/e2e/conftest.py LANGUAGE). The admin steps find fields by their form names
(`#subject`, `button[value=send]`), so that they keep working whatever language the admin
is shown in; what they check is what the owner reads on the page (counts, the status).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, LANGUAGE, heading, seen

CAMPAIGN_SECONDS = 60  # "lands in the outbox within a minute" (issue 12)


def sign_up(page, base_url: str, address: str, language: str, shots: Path) -> None:
    """Fill in the signup form as a person does, and see "Check your inbox"."""
    words = LANGUAGE[language]
    page.goto(f"{base_url}/subscribe")
    assert page.locator("html").get_attribute("lang") == language, (
        f"the signup page is not in {language}: {seen(page)}"
    )
    page.locator("#email").fill(address)
    page.locator("input[name=topics][value=newsletter]").check()
    page.locator("#consent").check()
    page.screenshot(path=str(shots / f"signup-{language}.png"), full_page=True)
    page.get_by_role("button", name=words["subscribe"], exact=True).click()
    heading(page, words["check_inbox"], f"signup ({language})")


def confirm(page, confirm_url: str, language: str, shots: Path) -> None:
    """Open the link from the confirmation mail and press the button."""
    words = LANGUAGE[language]
    page.goto(confirm_url)
    page.get_by_role("button", name=words["confirm"], exact=True).click()
    heading(page, words["subscribed"], f"confirmation ({language})")
    page.screenshot(path=str(shots / f"confirmed-{language}.png"), full_page=True)


def preferences_and_download(page, address: str, language: str, shots: Path, mailed_link) -> None:
    """From the confirmation page: my preferences, save them, download my data (through
    the link mailed to me: `mailed_link()` returns it from my mailbox)."""
    words = LANGUAGE[language]
    page.get_by_role("link", name=words["manage"]).click()
    newsletter = page.locator("input[name=topics][value=newsletter]")
    newsletter.wait_for()
    assert newsletter.is_checked(), f"the newsletter is not ticked on my preferences ({language})"
    page.screenshot(path=str(shots / f"preferences-{language}.png"), full_page=True)
    preferences_url = page.url
    page.get_by_role("button", name=words["save"]).click()
    heading(page, words["saved"], f"saving preferences ({language})")
    page.goto(preferences_url)
    page.get_by_role("button", name=words["download"]).click()
    heading(page, words["mailed"], f"download my data ({language})")
    page.goto(mailed_link())
    with page.expect_download(timeout=15_000) as download:
        page.get_by_role("button", name=words["download"]).click()
    path = download.value.path()
    if path is None:
        raise AssertionError(f"download my data ({language}) failed: {download.value.failure()}")
    data = Path(path).read_text(encoding="utf-8")
    json.loads(data)  # a JSON file a person (or a program) can read
    assert address in data, f"my data ({language}) does not contain my address"


def admin_sign_in(page, base_url: str, shots: Path) -> None:
    page.goto(f"{base_url}/admin/")
    page.locator("#email").fill(ADMIN_EMAIL)
    page.locator("#password").fill(ADMIN_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    if "/admin/login" in page.url or page.locator("a[href$='/admin/campaigns']").count() == 0:
        raise AssertionError(f"admin sign-in did not lead to the dashboard; {seen(page)}")
    page.screenshot(path=str(shots / "admin-dashboard.png"), full_page=True)


def send_campaign(page, subject: str, body: str, recipients: int, shots: Path) -> None:
    """Compose a campaign from the Campaigns page and send it now, confirming the count."""
    page.locator("a[href$='/admin/campaigns']").first.click()
    page.locator("a[href$='/admin/campaigns/new']").first.click()
    page.locator("#subject").fill(subject)
    page.locator("#topic").select_option("newsletter")
    page.locator("#body_markdown").fill(body)
    page.screenshot(path=str(shots / "compose.png"), full_page=True)
    page.locator("button[name=action][value=send]").click()
    page.wait_for_load_state()
    if not re.search(r"/campaigns/\d+/send$", page.url):
        raise AssertionError(f"'send now' did not ask for confirmation; {seen(page)}")
    button = page.locator("main form[method=post]:not(.inline) button[type=submit]")
    label = button.inner_text()
    assert re.search(rf"\b{recipients}\b", label), (
        f"the send button should name {recipients} recipients, it says {label!r}"
    )
    page.screenshot(path=str(shots / "send-confirm.png"), full_page=True)
    button.click()
    page.wait_for_load_state()
    if not re.search(r"/campaigns/\d+/progress$", page.url):
        raise AssertionError(f"sending did not start; {seen(page)}")


def watch_progress(page, recipients: int, shots: Path, timeout: float = CAMPAIGN_SECONDS) -> dict:
    """The progress page's counts once every message is tried (or when time is up)."""
    deadline = time.monotonic() + timeout
    counts: dict = {}
    while time.monotonic() < deadline:
        # Read every figure in one go: the page's poll rewrites them all at once, and reading
        # them one locator at a time could see "sent 0" from before an update beside
        # "waiting 0" from after it.
        counts = page.evaluate(
            """() => {
                const text = (id) => document.getElementById(id).textContent.trim();
                const counts = {};
                for (const key of ["sent", "failed", "deferred", "skipped", "queued", "total"]) {
                    counts[key] = text("count-" + key);
                }
                counts.percent = text("percent");
                return counts;
            }"""
        )
        if counts["queued"] == "0" and counts["total"] == str(recipients):
            break
        time.sleep(1)  # the page itself polls the status every second
    page.screenshot(path=str(shots / "progress.png"), full_page=True)
    return counts
