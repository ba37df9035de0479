"""The admin in a real browser (Debian chromium driven by Playwright), CSRF on, real
SMTP server on loopback: log in, compose, preview, test-send, send, and watch the
progress bar reach 100 % while a worker thread sends. Takes screenshots (compose.png,
progress.png, dashboard-phone.png); with UPDATE_SCREENSHOTS=1 they replace the ones in
docs/screenshots/, otherwise they go to the test's temporary folder."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from newsletter import sending
from newsletter.extensions import db
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, free_port
from tests.live import CHROMIUM, CHROMIUM_ARGS

DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
RECIPIENTS = 24
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
    reason="Debian chromium is not installed (CI installs it)",
)


@pytest.fixture
def app_config(app_config, smtp_server):
    return {
        **app_config,
        **smtp_server.config(),
        "WTF_CSRF_ENABLED": True,
        # Slow enough that the progress bar is seen between 0 and 100 %.
        "SEND_RATE": 8,
    }


@pytest.fixture
def live_server(app):
    # Links in mail keep the https BASE_URL (the compliance check requires https); the
    # browser talks plain http to loopback, so the session cookie may not be https-only.
    app.config["SESSION_COOKIE_SECURE"] = False
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def worker(app):
    """A sending worker in a background thread, as `flask worker` runs it."""
    stop = threading.Event()

    def loop():
        with app.app_context():
            while not stop.is_set():
                sending.send_pending("browser-test-worker", batch_size=4)
                db.session.remove()
                stop.wait(0.2)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def small_png() -> bytes:
    """A small real PNG, as a shop owner's photo would be (Pillow)."""
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (320, 200), (190, 170, 140)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
        )
        yield instance
        instance.close()


def test_admin_composes_previews_test_sends_sends_and_watches_progress(
    live_server, browser, worker, admin_user, make_subscriber, smtp_server, tmp_path
):
    shots = DOCS_SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    make_subscriber("ann.peeters@example.org", name="Ann Peeters")
    for n in range(RECIPIENTS - 1):
        make_subscriber(f"reader{n:02d}@example.org")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)

    page.goto(f"{live_server}/admin/")
    page.get_by_label("Email address").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()

    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    version = page.locator(".version-panel:not([hidden])")  # the default language's tab
    version.get_by_label("Subject").fill("Our spring collection is here")
    version.get_by_label("Preheader").fill("Ten new products, and a word from the workshop")
    version.get_by_label("Body (Markdown)").fill(
        "# Spring is here\n\nDear reader,\n\nOur **spring collection** arrived this week: "
        "linen shirts, hand-thrown mugs and [the new catalogue](https://shop.example/spring).\n\n"
        "- Linen shirts in four colours\n- Mugs from the workshop in Ghent\n\n"
        "See you in the shop!"
    )
    page.get_by_label("Preview as").select_option(label="ann.peeters@example.org")
    preview = page.frame_locator("#preview-html")
    preview.get_by_role("heading", name="Spring is here").wait_for()
    preview.get_by_text("Unsubscribe from all").first.wait_for()
    page.get_by_role("tab", name="Plain text").click()
    assert "spring collection" in page.locator("#preview-text").inner_text()
    page.get_by_role("tab", name="HTML").click()

    page.get_by_label("Test address").fill("boss@shop.example")
    page.get_by_role("button", name="Save and send test").click()
    page.get_by_text("a test message is on its way to boss@shop.example").wait_for()
    [test_mail] = smtp_server.messages
    assert test_mail.rcpt_tos == ["boss@shop.example"]
    assert test_mail.message["Subject"] == "[TEST] Our spring collection is here"
    assert page.get_by_label("Preview as").input_value() != ""  # still previewing as Ann
    page.locator("#preview-state", has_text="Up to date").wait_for()
    preview.get_by_role("heading", name="Spring is here").wait_for()

    # An image from the media library, inserted where the cursor is (issue 16), and a
    # Dutch version beside the English one (issue 15).
    version.get_by_label("Body (Markdown)").focus()
    page.locator("#media-insert-alt").fill("Linen shirts on a rail in the shop")
    page.locator("#media-insert-file").set_input_files(
        {"name": "shirts.png", "mimeType": "image/png", "buffer": small_png()}
    )
    page.locator("#media-insert-state", has_text="Inserted").wait_for()
    body = version.get_by_label("Body (Markdown)").input_value()
    assert "![Linen shirts on a rail in the shop](https://news.example.test/media/" in body
    page.locator("#tab-nl").click()
    dutch = page.locator("#version-nl")
    dutch.get_by_label("Subject").fill("Onze lentecollectie is er")
    dutch.get_by_label("Body (Markdown)").fill(
        "# De lente is er\n\nBeste lezer,\n\nOnze **lentecollectie** kwam deze week binnen."
    )
    page.frame_locator("#preview-html").get_by_role("heading", name="De lente is er").wait_for()
    page.locator("#tab-en").click()
    preview.get_by_role("img", name="Linen shirts on a rail in the shop").wait_for()
    page.screenshot(path=str(shots / "compose.png"), full_page=True)

    page.get_by_role("button", name="Save and send now").click()
    page.get_by_role("button", name=f"Send to {RECIPIENTS} people").click()
    bar = page.locator("progress#bar")
    bar.wait_for()
    # The bar moves: seen strictly between empty and full, then full.
    page.wait_for_function(
        "() => { const b = document.getElementById('bar'); return b.value > 0 && b.value < b.max; }"
    )
    page.screenshot(path=str(shots / "progress.png"), full_page=True)
    page.locator("#percent", has_text="100 %").wait_for(timeout=30_000)
    page.locator("#status-badge", has_text="sent").wait_for()
    assert page.locator("#count-sent").inner_text() == str(RECIPIENTS)
    # The report's figures follow while watched (they once kept the page load's 0).
    page.locator("#figure-delivered", has_text=str(RECIPIENTS)).wait_for(timeout=5_000)
    assert bar.evaluate("b => b.value === b.max")
    assert page.locator("#cancel-form").is_hidden()
    delivered = sorted(m.rcpt_tos[0] for m in smtp_server.messages[1:])
    assert len(delivered) == RECIPIENTS
    assert delivered[0] == "ann.peeters@example.org"

    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.context.add_cookies(page.context.cookies())
    phone.goto(f"{live_server}/admin/")
    phone.get_by_role("heading", name="Dashboard").wait_for()
    assert phone.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    phone.screenshot(path=str(shots / "dashboard-phone.png"), full_page=True)
