"""Images uploaded in the admin and branding (issue 16, points 1 and 2; docs/MEDIA.md).

Everything through the admin with CSRF on, as an admin does it; mail over real SMTP."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from PIL import ExifTags, Image
from sqlalchemy import func, select

from newsletter import campaigns, compliance, sending
from newsletter.extensions import db
from newsletter.models import Media, Setting
from tests.helpers import BASE_URL, links_in, mail_html, mail_text

LANGUAGES = ("nl", "fr", "en")


@pytest.fixture
def app_config(app_config, tmp_path, smtp_server):
    return {
        **app_config,
        **smtp_server.config(),
        "WTF_CSRF_ENABLED": True,
        "MEDIA_FOLDER": str(tmp_path / "media"),
    }


def csrf_token(page_text: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page_text)
    return found.group(1) if found else re.search(r'data-csrf="([^"]+)"', page_text).group(1)


def photo_with_gps(width=2400, height=1600, fmt="JPEG") -> bytes:
    """A real photo as a phone writes it: camera make and a GPS position in its EXIF."""
    image = Image.new("RGB", (width, height), (40, 120, 60))
    for x in range(0, width, 200):  # some detail, so the encoder has work to do
        image.paste((200, 180, 20), (x, 0, x + 100, height))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Pocket 12"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (50.0, 51.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (4.0, 21.0, 3.2)
    out = io.BytesIO()
    image.save(out, fmt, exif=exif)
    return out.getvalue()


def upload(client, data: bytes, filename: str, alt: str | None = "Our new spade"):
    token = csrf_token(client.get("/admin/media").text)
    form = {"csrf_token": token, "image": (io.BytesIO(data), filename)}
    if alt is not None:
        form["alt"] = alt
    return client.post("/admin/media", data=form, content_type="multipart/form-data")


def stored_names(app) -> list[str]:
    folder = app.config["MEDIA_FOLDER"]
    import os

    return (
        sorted(n for n in os.listdir(folder) if not n.startswith("."))
        if os.path.isdir(folder)
        else []
    )


def only_media() -> Media:
    [row] = db.session.scalars(select(Media)).all()
    return row


# --- images ----------------------------------------------------------------------------------


def test_upload_strips_exif_and_gps_resizes_and_is_served_by_the_app(app, admin_client):
    original = photo_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert admin_client.post("/admin/media", data={"alt": "x"}).status_code == 400  # no token
    response = upload(admin_client, original, "IMG_2041.jpg")
    assert response.status_code == 302, response.text
    page = admin_client.get(response.headers["Location"]).text
    assert "Image uploaded (1200 × 800 px)." in page
    row = only_media()
    assert (row.alt, row.width, row.height, row.content_type) == (
        "Our new spade",
        1200,
        800,
        "image/jpeg",
    )
    assert row.uploaded_by == "boss@shop.example"
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", row.name)
    snippet = f"![Our new spade]({BASE_URL}/media/{row.name})"
    assert snippet in page  # the Markdown to copy
    assert "IMG_2041" not in page  # the original file name is not kept

    served = admin_client.get(f"/media/{row.name}")
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=31536000" in served.headers["Cache-Control"]
    assert "immutable" in served.headers["Cache-Control"]
    assert "public" in served.headers["Cache-Control"]
    assert row.size_bytes == len(served.data)
    image = Image.open(io.BytesIO(served.data))
    assert image.size == (1200, 800)
    assert not image.getexif()  # no camera, no GPS position, no date
    assert not {"exif", "xmp", "icc_profile", "comment"} & set(image.info)
    assert b"PhoneMaker" not in served.data
    assert stored_names(app) == [row.name]


def test_the_media_page_gives_the_upload_time_in_the_shops_zone(admin_client):
    """Like every admin page: the configured zone (Europe/Brussels), not UTC."""
    upload(admin_client, photo_with_gps(), "IMG_1.jpg")
    row = only_media()
    row.uploaded_at = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # summer time
    db.session.commit()
    page = admin_client.get("/admin/media").text
    assert "2026-07-02 00:30 CEST" in page
    assert "UTC" not in page


def test_a_phone_photo_taken_sideways_is_stored_upright(admin_client):
    image = Image.new("RGB", (1600, 900), (90, 90, 90))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # the camera was turned: show rotated 90°
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    assert upload(admin_client, out.getvalue(), "side.jpg").status_code == 302
    row = only_media()
    assert (row.width, row.height) == (900, 1600)
    served = Image.open(io.BytesIO(admin_client.get(f"/media/{row.name}").data))
    assert served.size == (900, 1600)
    assert ExifTags.Base.Orientation not in served.getexif()


def test_the_same_image_twice_is_one_file(app, admin_client):
    data = photo_with_gps(800, 600)
    upload(admin_client, data, "a.jpg")
    response = upload(admin_client, data, "b.jpg", alt="Same again")
    page = admin_client.get(response.headers["Location"]).text
    assert "This image is already in the library." in page
    assert db.session.scalar(select(func.count()).select_from(Media)) == 1
    assert len(stored_names(app)) == 1


@pytest.mark.parametrize(
    ("data", "filename", "alt", "message"),
    [
        (b"just some notes\nnot a picture\n", "notes.png", "A", "notes.png is not an image"),
        (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>',
            "logo.png",
            "Logo",
            "logo.png is an SVG drawing: SVG is not accepted",
        ),
        (photo_with_gps(300, 200), "spade.jpg", None, "Describe the image in the alt text"),
        (photo_with_gps(300, 200), "spade.jpg", "   ", "Describe the image in the alt text"),
        (photo_with_gps(300, 200)[:400], "cut.jpg", "Cut", "cut.jpg could not be read"),
    ],
    ids=["text-renamed-png", "svg", "no-alt", "blank-alt", "truncated"],
)
def test_what_is_not_a_usable_image_is_refused_with_a_message(
    app, admin_client, data, filename, alt, message
):
    response = upload(admin_client, data, filename, alt)
    assert response.status_code == 400
    assert message in response.text
    assert db.session.scalar(select(func.count()).select_from(Media)) == 0
    assert stored_names(app) == []


def test_a_huge_pixel_count_is_refused(app, admin_client):
    app.config["MEDIA_MAX_PIXELS"] = 100_000
    response = upload(admin_client, photo_with_gps(1000, 400), "big.jpg")
    assert response.status_code == 400
    assert "big.jpg is 1000 × 400 pixels, more than the 100,000 allowed" in response.text
    assert stored_names(app) == []


def test_a_png_logo_keeps_its_transparency(admin_client):
    image = Image.new("RGBA", (400, 100), (0, 0, 0, 0))
    image.paste((29, 79, 145, 255), (10, 10, 390, 90))
    out = io.BytesIO()
    image.save(out, "PNG")
    assert upload(admin_client, out.getvalue(), "logo.png", "Demo Shop").status_code == 302
    row = only_media()
    assert row.content_type == "image/png"
    assert (row.width, row.height) == (400, 100)
    served = Image.open(io.BytesIO(admin_client.get(f"/media/{row.name}").data))
    assert served.mode == "RGBA"
    assert served.getpixel((0, 0))[3] == 0


def test_unknown_or_malformed_media_names_are_404(client):
    for path in ("/media/" + "0" * 32 + ".jpg", "/media/..%2Fsecret_key", "/media/x.svg"):
        assert client.get(path).status_code == 404


def test_compose_uploads_and_gets_the_snippet_to_insert(admin_client):
    page = admin_client.get("/admin/campaigns/new").text
    assert 'id="media-insert"' in page  # the button and drop target
    token = csrf_token(page)
    data = {"csrf_token": token, "alt": "A spade", "image": (io.BytesIO(photo_with_gps()), "s.jpg")}
    answer = admin_client.post("/admin/media/upload.json", data=data)
    assert answer.status_code == 200
    name = only_media().name
    assert answer.json["snippet"] == f"![A spade]({BASE_URL}/media/{name})"
    refused = admin_client.post(
        "/admin/media/upload.json",
        data={"csrf_token": token, "image": (io.BytesIO(b"hello"), "s.jpg")},
    )
    assert refused.status_code == 400
    assert "alt text" in refused.json["error"]


def test_deleting_an_image_a_campaign_shows_asks_first(app, admin_client, make_campaign):
    upload(admin_client, photo_with_gps(600, 400), "s.jpg")
    name = only_media().name
    make_campaign(body=f"![Spade]({BASE_URL}/media/{name})")
    token = csrf_token(admin_client.get("/admin/media").text)
    first = admin_client.post(f"/admin/media/{name}/delete", data={"csrf_token": token})
    assert (
        "Not deleted: 1 campaign(s) show this image"
        in admin_client.get(first.headers["Location"]).text
    )
    assert stored_names(app) == [name]
    admin_client.post(f"/admin/media/{name}/delete", data={"csrf_token": token, "anyway": "y"})
    assert db.session.scalar(select(func.count()).select_from(Media)) == 0
    assert stored_names(app) == []
    assert admin_client.get(f"/media/{name}").status_code == 404


def test_a_campaign_image_without_alt_is_refused_and_our_own_media_pass(
    make_campaign, admin_client
):
    upload(admin_client, photo_with_gps(600, 400), "s.jpg")
    name = only_media().name
    without = make_campaign(body=f"Look:\n\n![]({BASE_URL}/media/{name})")
    [problem] = campaigns.message_problems(without, "en")
    assert problem.startswith(f"the image {BASE_URL}/media/{name} has no alt text")
    own = make_campaign(body=f"Look:\n\n![A spade]({BASE_URL}/media/{name})")
    assert campaigns.message_problems(own, "en") == []
    assert compliance.is_own_media(f"{BASE_URL}/media/{name}")
    assert not compliance.is_own_media(f"https://cdn.example/media/{name}")


def test_a_campaign_image_goes_out_over_smtp_from_base_url_only(
    admin_client, make_campaign, make_subscriber, smtp_server
):
    upload(admin_client, photo_with_gps(), "s.jpg")
    name = only_media().name
    make_subscriber("ann@example.org")
    campaign = make_campaign(body=f"New in the shop.\n\n![Our new spade]({BASE_URL}/media/{name})")
    campaigns.start_sending(campaign)
    db.session.commit()
    sending.send_pending("test-worker")
    [received] = smtp_server.messages
    page = mail_html(received.message)
    assert f'src="{BASE_URL}/media/{name}"' in page
    assert 'alt="Our new spade"' in page
    hosts = {urlsplit(link).hostname for link in links_in(page)} - {"www.w3.org"}
    assert hosts == {urlsplit(BASE_URL).hostname}  # no third-party host at all
    assert "Our new spade" in mail_text(received.message)


# --- branding ---------------------------------------------------------------------------------


def set_branding(client, **values):
    token = csrf_token(client.get("/admin/branding").text)
    form = {"csrf_token": token, "logo": "", "brand_color": "#1d4f91", "link_color": "#1f5fbf"}
    form["header_text"] = ""
    form.update(values)
    return client.post("/admin/branding", data=form)


@pytest.fixture
def branded(admin_client):
    """A logo uploaded and the branding set through the admin; returns the logo's name."""
    logo = Image.new("RGB", (600, 150), (122, 31, 92))
    out = io.BytesIO()
    logo.save(out, "PNG")
    upload(admin_client, out.getvalue(), "logo.png", "Demo Shop logo")
    name = only_media().name
    response = set_branding(
        admin_client,
        logo=name,
        brand_color="#7A1F5C",
        link_color="0b5d3b",
        header_text="Spring at Demo Shop",
    )
    assert response.status_code == 302, response.text
    assert "Branding saved." in admin_client.get("/admin/branding").text
    return name


@pytest.mark.parametrize("language", LANGUAGES)
def test_branding_is_in_the_sent_mail_and_the_footer_stays_the_systems(
    branded, make_campaign, make_subscriber, smtp_server, language
):
    make_subscriber("ann@example.org").locale = language
    db.session.commit()
    campaign = make_campaign(body="Read [our spring offers](https://news.example.test/spring).")
    campaigns.start_sending(campaign)
    db.session.commit()
    sending.send_pending("test-worker")
    [received] = smtp_server.messages
    raw, message = received.raw, received.message
    page, text = mail_html(message), mail_text(message)
    [logo] = re.findall(r'<img class="logo"[^>]*>', page)
    assert f'src="{BASE_URL}/media/{branded}"' in logo
    assert 'alt="Demo Shop logo"' in logo
    assert 'width="200"' in logo
    assert 'height="50"' in logo
    assert "background-color: #7a1f5c" in page  # the header bar, inlined
    [link] = re.findall(r'<a [^>]*href="https://news.example.test/spring"[^>]*>', page)
    assert "color: #0b5d3b" in link
    assert "Spring at Demo Shop" in page
    # The text part opens with the "view in browser" line, then the header text.
    assert text.split("\n\n")[1] == "Spring at Demo Shop"
    assert "<style" not in page
    assert "max-width: 600px" in page
    # The footer is the system's, after the branded layout, visible and unchanged.
    assert compliance.check_marketing_message(raw) == []
    assert compliance.footer_visibility_problems(page) == []
    footer = page[page.rfind("<div " + 'data-newsletter-footer="system"') :]
    assert "#7a1f5c" not in footer
    assert "#0b5d3b" not in footer


@pytest.mark.parametrize("language", LANGUAGES)
def test_branding_is_on_the_public_signup_page(client, branded, language):
    page = client.get(f"/subscribe?lang={language}").text
    assert f'<img class="brand-logo" src="/media/{branded}"' in page
    css_link = re.search(r'href="(/branding\.css\?v=[0-9a-f]+)"', page).group(1)
    css = client.get(css_link)
    assert css.headers["Content-Type"].startswith("text/css")
    assert "--accent:#0b5d3b" in css.text
    assert "--brand:#7a1f5c" in css.text


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"brand_color": "#ffff00"}, "The brand colour #ffff00 has a contrast of 1.1:1"),
        ({"link_color": "#8ab4f8"}, "The link colour #8ab4f8 has a contrast of 2.1:1"),
        ({"brand_color": "red"}, "red is not a colour: write it as #rrggbb"),
        ({"logo": "f" * 32 + ".png"}, "no longer in the media library"),
        ({"header_text": "x" * 121}, "The header text is longer than 120 characters."),
    ],
    ids=["yellow", "light-link", "name", "unknown-logo", "long-text"],
)
def test_a_bad_branding_value_is_refused_and_nothing_is_stored(admin_client, values, message):
    response = set_branding(admin_client, **{"header_text": "Hello", **values})
    assert response.status_code == 400
    assert message in response.text
    assert (
        db.session.scalar(
            select(func.count()).select_from(Setting).where(Setting.name.startswith("branding."))
        )
        == 0
    )


def test_deleting_the_logo_takes_it_out_of_the_branding(admin_client, branded, client):
    token = csrf_token(admin_client.get("/admin/media").text)
    admin_client.post(f"/admin/media/{branded}/delete", data={"csrf_token": token})
    assert "brand-logo" not in client.get("/subscribe").text
    assert "none" in admin_client.get("/admin/branding").text
