"""Media library and branding in a real browser (Debian chromium through Playwright),
CSRF on: upload a logo and a photo, set the branding, send a campaign with the photo,
and render the branded mail at 390 px (a phone) and 700 px (a desktop pane), checking
that nothing overflows sideways. Screenshots mail-390.png, mail-700.png and media.png;
with UPDATE_SCREENSHOTS=1 they replace the ones in docs/screenshots/, otherwise they go
to the test's temporary folder."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from newsletter import campaigns, sending
from newsletter.extensions import db
from newsletter.models import Media, Topic
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, mail_html
from tests.live import CHROMIUM

DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
    reason="Debian chromium is not installed (CI installs it)",
)


@pytest.fixture
def app_config(live_app_config, tmp_path):
    return {**live_app_config, "MEDIA_FOLDER": str(tmp_path / "media")}


def picture(kind: str) -> bytes:
    """A logo (a PNG with its own background) or a wide photo (JPEG)."""
    if kind == "logo":
        image = Image.new("RGB", (480, 120), (255, 255, 255))
        image.paste((122, 31, 92), (12, 12, 108, 108))
        image.paste((11, 93, 59), (130, 40, 460, 80))
        fmt = "PNG"
    else:
        image = Image.new("RGB", (2000, 1200), (210, 225, 200))
        for x in range(0, 2000, 160):
            image.paste((70, 120, 60), (x, 300, x + 80, 1200))
        fmt = "JPEG"
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def upload_in_browser(page, data: bytes, filename: str, mime: str, alt: str) -> None:
    page.locator("#image").set_input_files({"name": filename, "mimeType": mime, "buffer": data})
    page.get_by_label("Alt text: what the image shows (required)").fill(alt)
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("status").filter(has_text="Image uploaded").wait_for()


def overflow(page) -> int:
    """How many pixels the page is wider than the window (0: nothing overflows)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_branded_mail_fits_a_phone_and_a_desktop(
    live_server, page, admin_user, make_subscriber, outbox, tmp_path
):
    shots = DOCS_SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    make_subscriber("ann.peeters@example.org", name="Ann Peeters")
    page.set_default_timeout(15_000)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server}/admin/")
    page.get_by_label("Email address").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()

    page.get_by_role("link", name="Media").click()
    upload_in_browser(page, picture("logo"), "logo.png", "image/png", "Demo Shop")
    upload_in_browser(
        page, picture("photo"), "garden.jpg", "image/jpeg", "Our spring garden tools in use"
    )
    page.get_by_role("button", name="Copy Markdown").first.click()
    page.screenshot(path=str(shots / "media.png"), full_page=True)

    page.get_by_role("link", name="Branding").click()
    page.get_by_label("Logo (from the media library)").select_option(label="Demo Shop (480 × 120)")
    page.get_by_label("Brand colour (header bar, buttons), #rrggbb").fill("#7a1f5c")
    page.get_by_label("Link colour, #rrggbb").fill("#0b5d3b")
    page.get_by_label("Header text (short, shown at the top of every mail)").fill(
        "Spring at Demo Shop: tools that last"
    )
    page.get_by_role("button", name="Save branding").click()
    page.get_by_role("status").filter(has_text="Branding saved.").wait_for()

    db.session.expire_all()
    photo = db.session.scalar(db.select(Media).where(Media.alt.startswith("Our spring")))
    snippet = f"![{photo.alt}]({live_server}/media/{photo.name})"
    campaign = campaigns.create_campaign(
        "Our spring collection is here",
        "## Ten new tools\n\nHello,\n\nThe spring range is in the shop, with a spade that "
        f"lasts a lifetime.\n\n{snippet}\n\n[See the whole range]({live_server}/subscribe)"
        "\n\n| Tool | Price |\n|---|---|\n| Spade | €39 |\n| Rake | €24 |",
        db.session.scalar(db.select(Topic).where(Topic.slug == "newsletter")),
    )
    campaigns.start_sending(campaign)
    db.session.commit()
    sending.send_pending("test-worker")
    [message] = outbox()
    html = mail_html(message)

    for width in (390, 700):
        page.set_viewport_size({"width": width, "height": 900})
        page.set_content(html, wait_until="load")
        sizes = page.evaluate(
            "Array.from(document.images).map(i => [i.complete && i.naturalWidth > 0, "
            "i.getBoundingClientRect().right])"
        )
        assert sizes
        assert all(loaded for loaded, _right in sizes), sizes  # served by the app itself
        assert all(right <= width for _loaded, right in sizes), sizes
        assert overflow(page) <= 0, f"the mail is wider than {width} px"
        container = page.evaluate(
            "document.querySelector('table.container').getBoundingClientRect().width"
        )
        assert container <= 600
        footer = page.locator('[data-newsletter-footer="system"]')
        assert footer.is_visible()
        assert footer.get_by_role("link", name="Unsubscribe from all marketing").is_visible()
        page.screenshot(path=str(shots / f"mail-{width}.png"), full_page=True)
