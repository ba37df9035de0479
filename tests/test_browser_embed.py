"""The embed snippets on a page of another origin, in Chromium (docs/EMBED.md).

The shop's page is served by a tiny http.server on another loopback port and host name
(`localhost`: another site than the app's `127.0.0.1`, so the browser sends no cookie of
the app into the frame, as on a real shop's site). The admin's two snippets are pasted
into it as they are; a visitor signs up through the frame, then through the plain form,
and both confirmation mails arrive. The screenshot goes to the test's temporary folder;
with UPDATE_SCREENSHOTS=1 it replaces docs/screenshots/embed.png.
"""

from __future__ import annotations

import html
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.browser
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshots" / "embed.png"
SHOP_PORT = free_port()
SHOP = f"http://localhost:{SHOP_PORT}"


@pytest.fixture
def app_config(live_app_config):
    return {**live_app_config, "EMBED_ORIGINS": [SHOP]}


def pasted(admin_client) -> tuple[str, str]:
    """The two snippets exactly as the admin page offers them for copying."""
    page = admin_client.get("/admin/embed?locale=en").text
    form, frame = (
        html.unescape(
            re.search(rf'<textarea id="snippet-{name}"[^>]*>(.*?)</textarea>', page, re.S)[1]
        )
        for name in ("form", "iframe")
    )
    return form, frame


def shop_server(body: bytes) -> ThreadingHTTPServer:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", SHOP_PORT), Page)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def test_both_snippets_on_another_origin_sign_up_with_double_opt_in(
    live_server, admin_client, page, outbox, tmp_path
):
    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path / "embed.png"
    form, frame = pasted(admin_client)
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Demo Shop</title>"
        "<style>body{font-family:sans-serif;margin:2rem;display:grid;"
        "grid-template-columns:1fr 1fr;gap:2rem}</style></head><body>"
        f"<section><h1>Our shop</h1><h2>Plain form</h2>{form}</section>"
        f"<section><h2>In a frame</h2>{frame}</section></body></html>"
    ).encode()
    server = shop_server(body)
    try:
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{SHOP}/")
        framed = page.frame_locator("iframe")
        framed.get_by_label("Email address").fill("framed@example.org")
        framed.get_by_label("Newsletter", exact=True).check()
        framed.locator("#consent").check()
        framed.get_by_role("button", name="Subscribe").click()
        framed.get_by_role("heading", name="Check your inbox").wait_for()
        back = framed.get_by_role("link", name=f"Back to localhost:{SHOP_PORT}")
        assert back.get_attribute("href") == f"{SHOP}/"
        assert back.get_attribute("target") == "_top"

        page.get_by_label("Email address").fill("plain@example.org")
        page.get_by_label("Newsletter", exact=True).check()
        page.locator("form.newsletter-signup input[name=consent]").check()
        page.screenshot(path=str(shot), full_page=True)
        page.get_by_role("button", name="Subscribe").click()
        page.get_by_role("heading", name="Check your inbox").wait_for()
        assert page.url.startswith(f"{live_server}/subscribe")
        page.get_by_role("link", name=f"Back to localhost:{SHOP_PORT}").click()
        page.get_by_role("heading", name="Our shop").wait_for()
    finally:
        server.shutdown()
        server.server_close()

    for address in ("framed@example.org", "plain@example.org"):
        (mail,) = outbox(address)
        assert "/confirm/" in mail.get_body(preferencelist=("plain",)).get_content()
