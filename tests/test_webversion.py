"""Issue 16, points 3, 4 and 8: the personal greeting, the web version and archive, and
per-campaign figures without tracking.

As people run it: CSRF on, the admin logs in through the login form and composes and
sends with the admin's buttons, a real SMTP server on loopback receives the mail, the
recipients' mail clients press the one-click unsubscribe, and a visitor opens the
"view in browser" link, the archive and its feed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from email.header import decode_header, make_header
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from newsletter import bounces, clock, personalise, sending, subscriptions
from newsletter.extensions import db
from newsletter.models import Campaign, CampaignOptOut, Delivery
from tests import bounce_samples
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, aware, mail_html, mail_text

START = aware(2026, 3, 2, 9)
ATOM = "{http://www.w3.org/2005/Atom}"
PEOPLE = {  # language: (address, name)
    "nl": ("jan@example.be", "Jan"),
    "fr": ("marie@example.be", "Marie"),
    "en": ("ann@example.org", None),
}
VIEW_WORDS = {
    "nl": "Deze e-mail in uw browser bekijken",
    "fr": "Afficher cet e-mail dans votre navigateur",
    "en": "View this email in your browser",
}
PAGE_WORDS = {
    "nl": "Webversie van onze nieuwsbrief",
    "fr": "Version web de notre newsletter",
    "en": "Web version of our newsletter",
}
BODY = "Hello {{ name|friend }}, here is our spring news.\n\n{{ 7*7 }} and {{ config }} stay."


@pytest.fixture
def app_config(app_config, smtp_server):
    return {
        **app_config,
        **smtp_server.config(),
        "WTF_CSRF_ENABLED": True,
        "BOUNCE_ADDRESS": "bounces@shop.example",
    }


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen(START) as now:
        yield now


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


@pytest.fixture
def admin(client, admin_user):
    """The test client, logged in through the login form (CSRF on)."""
    form = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    login = client.post(
        "/admin/login", data={**form, "csrf_token": csrf(client.get("/admin/login").text)}
    )
    assert login.status_code == 302, login.text
    return client


@pytest.fixture
def people(make_subscriber):
    """One subscriber per language; the English one gave no name."""
    found = {}
    for language, (address, name) in PEOPLE.items():
        found[language] = make_subscriber(address, name=name)
        found[language].locale = language
    db.session.commit()
    return found


def send_from_admin(admin, subject: str, body: str = BODY) -> Campaign:
    """Compose, save and send with the admin's buttons, then let a worker deliver."""
    page = admin.get("/admin/campaigns/new").text
    fields = {"subject": subject, "body_markdown": body, "topic": "newsletter"}
    saved = admin.post("/admin/campaigns/new", data={**fields, "csrf_token": csrf(page)})
    assert saved.status_code == 302, saved.text
    campaign = db.session.scalar(select(Campaign).order_by(Campaign.id.desc()))
    ask = admin.get(f"/admin/campaigns/{campaign.id}/send").text
    sent = admin.post(f"/admin/campaigns/{campaign.id}/send", data={"csrf_token": csrf(ask)})
    assert sent.status_code == 302, sent.text
    sending.send_pending("test-worker")
    db.session.expire_all()
    return db.session.get(Campaign, campaign.id)


def received(smtp_server) -> dict:
    """{address: parsed message} of what the SMTP server accepted."""
    return {r.rcpt_tos[0]: r.message for r in smtp_server.messages}


def subject_of(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def view_link(text: str) -> str:
    return re.search(r"https?://[^\s\"'<>]+/view/[A-Za-z0-9_.\-]+", text)[0]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def one_click_url(message) -> str:
    return re.findall(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"]))[0]


# --- 3. the personal greeting ------------------------------------------------------------


def test_greeting_and_web_version_in_three_languages_over_smtp(admin, client, people, smtp_server):
    send_from_admin(admin, "Spring news for {{ name|friend }}")
    mail = received(smtp_server)
    assert set(mail) == {address for address, _name in PEOPLE.values()}
    links = {}
    for language, (address, name) in PEOPLE.items():
        message = mail[address]
        greeting = name or "friend"
        assert subject_of(message) == f"Spring news for {greeting}"
        text, page = mail_text(message), mail_html(message)
        assert f"Hello {greeting}, here is our spring news." in text
        assert f"Hello {greeting}, here is our spring news." in page
        # Nothing else is evaluated: the author's other braces stay as written.
        assert "{{ 7*7 }} and {{ config }} stay." in text
        assert "{{ 7*7 }} and {{ config }} stay." in page
        # (Links left out: a random token may hold the digits "49".)
        assert "49" not in re.sub(r"https?://\S+", "", text)
        # "View in browser" near the top of both parts, in the recipient's language.
        assert text.startswith(f"{VIEW_WORDS[language]}: ")
        link = view_link(text)
        assert f'href="{link}"' in page
        assert page.index(VIEW_WORDS[language]) < page.index("Hello")
        assert link in text.split("Hello", 1)[0]
        links[language] = (link, message)
    assert len({link for link, _m in links.values()}) == 3  # one web version per language

    for language, (link, message) in links.items():
        address, name = PEOPLE[language]
        shown = client.get(path_of(link))
        assert shown.status_code == 200
        assert f'<html lang="{language}"' in shown.text
        assert PAGE_WORDS[language] in shown.text
        assert "Hello friend, here is our spring news." in shown.text
        assert "Spring news for friend" in shown.text
        assert "{{ 7*7 }} and {{ config }} stay." in shown.text
        # No personal data: not the name, the address, nor anything of the person's links.
        assert address not in shown.text
        assert "example.be" not in shown.text
        if name:
            assert name not in shown.text
        unsubscribe_token = one_click_url(message).rsplit("/", 1)[1].split("?")[0]
        assert unsubscribe_token not in shown.text
        assert "/unsubscribe/" not in shown.text
        assert "/preferences/" not in shown.text
        assert "frame-ancestors 'none'" in shown.headers["Content-Security-Policy"]


def test_the_same_link_names_no_subscriber(people):
    """The web version's link is the same for every recipient of a language."""
    from newsletter import webversion

    assert webversion.view_url(7, "nl") == webversion.view_url(7, "nl")
    campaign_id, language = webversion.read_token(webversion.token_for(7, "fr"))
    assert (campaign_id, language) == (7, "fr")


def test_tampered_or_unsent_web_version_link_is_a_clear_404(
    admin, client, people, smtp_server, make_campaign
):
    campaign = send_from_admin(admin, "Spring news")
    link = view_link(mail_text(received(smtp_server)["jan@example.be"]))
    token = link.rsplit("/", 1)[1]
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "garbage", "x.y.z"):
        for language in ("nl", "fr", "en"):
            page = client.get(f"/view/{bad}?lang={language}")
            assert page.status_code == 404
            assert f'<html lang="{language}"' in page.text
    assert "Dit bericht is niet beschikbaar" in client.get("/view/garbage?lang=nl").text
    assert "Ce message n'est pas disponible" in client.get("/view/garbage?lang=fr").text.replace(
        "&#39;", "'"
    )
    # A draft's link (e.g. in a test send) exists but shows nothing yet.
    from newsletter import webversion

    draft = make_campaign(subject="Not yet")
    assert client.get(path_of(webversion.view_url(draft.id, "en"))).status_code == 404
    assert campaign.id != draft.id


def test_a_name_with_cr_lf_cannot_add_a_header_and_is_escaped_in_html(
    admin, make_subscriber, smtp_server
):
    eve = make_subscriber("eve@example.org", name="Eve\r\nBcc: victim@example.net")
    bob = make_subscriber("bob@example.org", name='<b onclick="x">Bob</b> & Co')
    assert eve
    assert bob
    send_from_admin(admin, "Hi {{ name }}", body="Dear {{ name|customer }}.")
    mail = received(smtp_server)
    assert {r.rcpt_tos[0] for r in smtp_server.messages} == {"eve@example.org", "bob@example.org"}
    message = mail["eve@example.org"]
    assert message["Bcc"] is None
    assert subject_of(message) == "Hi Eve Bcc: victim@example.net"
    raw = next(r.raw for r in smtp_server.messages if r.rcpt_tos == ["eve@example.org"])
    assert b"\r\nBcc:" not in raw
    page = mail_html(mail["bob@example.org"])
    assert "Dear &lt;b onclick=&quot;x&quot;&gt;Bob&lt;/b&gt; &amp; Co." in page
    assert "<b onclick" not in page
    assert 'Dear <b onclick="x">Bob</b> & Co.' in mail_text(mail["bob@example.org"])


def test_only_the_name_placeholder_is_substituted():
    assert personalise.apply("Hi {{ name|Klant }}!", "") == "Hi Klant!"
    assert personalise.apply("Hi {{name}}!", None) == "Hi !"
    assert personalise.apply("Hi {{ name | beste klant }}!", None) == "Hi beste klant!"
    assert personalise.apply("Hi {{ name|friend }}!", " Jan\n") == "Hi Jan!"
    for literal in ("{{ 7*7 }}", "{{ config }}", "{{ name.upper() }}", "{% if x %}", "{{ Name }}"):
        assert personalise.apply(literal, "Jan") == literal
        assert not personalise.has_placeholder(literal)
    assert personalise.apply_html("<p>{{ name }}</p>", "<i>") == "<p>&lt;i&gt;</p>"


def test_compose_preview_shows_the_name_of_the_sample_recipient(admin, people):
    page = admin.get("/admin/campaigns/new").text
    fields = {
        "subject": "News",
        "body_markdown": "Hello {{ name|friend }}.",
        "topic": "newsletter",
        "csrf_token": csrf(page),
    }
    for public_id, greeting in (
        (people["nl"].public_id, "Jan"),
        (people["en"].public_id, "friend"),
    ):
        shown = admin.post("/admin/campaigns/preview", data={**fields, "sample": public_id})
        assert shown.status_code == 200, shown.text
        assert f"Hello {greeting}." in shown.json["html"]
        assert f"Hello {greeting}." in shown.json["text"]


# --- 4. the archive ----------------------------------------------------------------------


def press(admin, campaign: Campaign, action: str):
    page = admin.get(f"/admin/campaigns/{campaign.id}/progress").text
    return admin.post(f"/admin/campaigns/{campaign.id}/{action}", data={"csrf_token": csrf(page)})


def test_publish_lists_in_archive_and_feed_and_unpublish_removes(
    admin, client, people, smtp_server, make_campaign, frozen_now
):
    first = send_from_admin(admin, "March news for {{ name|friend }}")
    with clock.frozen(START + timedelta(days=3)):
        second = send_from_admin(admin, "Later news")
    kept_back = make_campaign(subject="Draft only")
    assert "Not in the public archive." in admin.get(f"/admin/campaigns/{first.id}/progress").text
    assert press(admin, first, "publish").status_code == 302
    assert press(admin, second, "publish").status_code == 302
    assert "Published in the" in admin.get(f"/admin/campaigns/{first.id}/progress").text
    # A draft cannot be published (its page is the compose page; the POST refuses).
    page = admin.get(f"/admin/campaigns/{first.id}/progress").text
    refused = admin.post(
        f"/admin/campaigns/{kept_back.id}/publish", data={"csrf_token": csrf(page)}
    )
    assert refused.status_code == 302

    for language in ("nl", "fr", "en"):
        listing = client.get(f"/archive?lang={language}")
        assert listing.status_code == 200
        assert f'<html lang="{language}"' in listing.text
        assert listing.text.index("Later news") < listing.text.index("March news for friend")
        assert "Draft only" not in listing.text
        hrefs = re.findall(r'href="([^"]*/view/[^"]+)"', listing.text)
        assert len(hrefs) == 2
        shown = client.get(path_of(hrefs[1]))
        assert shown.status_code == 200
        assert "March news for friend" in shown.text
        assert f'<html lang="{language}"' in shown.text

    feed = client.get("/archive/feed.xml?lang=fr")
    assert feed.status_code == 200
    assert feed.headers["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.data)
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{required}") is not None
    entries = root.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}title").text for e in entries] == ["Later news", "March news for friend"]
    for entry in entries:
        assert entry.find(f"{ATOM}id").text
        assert entry.find(f"{ATOM}updated").text
        href = entry.find(f"{ATOM}link").get("href")
        assert "/view/" in href
        assert client.get(path_of(href)).status_code == 200
    assert "Hello friend" in entries[1].find(f"{ATOM}content").text

    assert press(admin, first, "unpublish").status_code == 302
    listing = client.get("/archive?lang=en").text
    assert "March news" not in listing
    assert "Later news" in listing
    root = ET.fromstring(client.get("/archive/feed.xml").data)
    assert [e.find(f"{ATOM}title").text for e in root.findall(f"{ATOM}entry")] == ["Later news"]
    # The link in the mail still works after unpublishing: the mail was sent.
    link = view_link(mail_text(smtp_server.messages[0].message))
    assert client.get(path_of(link)).status_code == 200


def test_an_empty_archive_says_so_and_its_feed_is_valid_atom(client):
    page = client.get("/archive?lang=nl")
    assert page.status_code == 200
    assert "Hier is nog geen nieuwsbrief gepubliceerd." in page.text
    root = ET.fromstring(client.get("/archive/feed.xml").data)
    assert root.tag == f"{ATOM}feed"
    assert root.findall(f"{ATOM}entry") == []


# --- 8. figures without tracking ---------------------------------------------------------


def test_report_counts_delivered_bounced_and_unsubscribed_within_seven_days(
    admin, make_subscriber, smtp_server
):
    for name in ("ann", "bob", "cat", "dan"):
        make_subscriber(f"{name}@example.org")
    campaign = send_from_admin(admin, "Spring news")
    mail = received(smtp_server)
    mail_client = admin.application.test_client()  # no cookie, no CSRF token

    # ann presses her mail client's one-click unsubscribe (RFC 8058), twice.
    url = one_click_url(mail["ann@example.org"])
    assert "?c=" in url
    for _ in range(2):
        answer = mail_client.post(path_of(url), data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200
        assert "Location" not in answer.headers
    assert subscriptions.find_subscriber("ann@example.org") is None

    # bob's server bounces the message later (a DSN to the VERP address).
    bob = subscriptions.find_subscriber("bob@example.org")
    delivery = db.session.scalar(
        select(Delivery).where(
            Delivery.campaign_id == campaign.id, Delivery.subscriber_id == bob.id
        )
    )
    dsn = bounce_samples.dsn(bounces.envelope_sender(delivery.id), recipient="bob@example.org")
    assert bounces.process(dsn, "test") == "suppressed"
    db.session.commit()

    # cat uses an old link without the campaign: it works, and is not counted.
    old_link = one_click_url(mail["cat@example.org"]).split("?")[0]
    assert (
        mail_client.post(path_of(old_link), data={"List-Unsubscribe": "One-Click"}).status_code
        == 200
    )
    assert subscriptions.find_subscriber("cat@example.org") is None

    # dan opts out 8 days after the send: outside the window, not counted.
    with clock.frozen(START + timedelta(days=8)):
        late = one_click_url(mail["dan@example.org"])
        assert (
            mail_client.post(path_of(late), data={"List-Unsubscribe": "One-Click"}).status_code
            == 200
        )
    assert subscriptions.find_subscriber("dan@example.org") is None

    page = admin.get(f"/admin/campaigns/{campaign.id}/progress").text
    figure = dict(re.findall(r'<dd id="figure-([a-z-]+)">(\d+)</dd>', page))
    assert figure == {
        "delivered": "3",
        "failed": "0",
        "hard-bounces": "1",
        "soft-bounces": "0",
        "complaints": "0",
        "unsubscribed": "1",
    }
    # The counter names nobody: campaign, day, count.
    rows = db.session.execute(select(CampaignOptOut.__table__)).all()
    assert [tuple(r) for r in rows] == [(campaign.id, START.date(), 1)]


def test_the_unsubscribe_page_button_keeps_the_campaign(admin, make_subscriber, smtp_server):
    make_subscriber("ann@example.org")
    campaign = send_from_admin(admin, "Spring news")
    url = re.search(
        r'href="(https?://[^"]+/unsubscribe/[^"]+)"',
        mail_html(received(smtp_server)["ann@example.org"]),
    )[1].replace("&amp;", "&")
    visitor = admin.application.test_client()
    page = visitor.get(path_of(url)).text
    action = re.search(r'<form method="post" action="([^"]+)"', page)[1].replace("&amp;", "&")
    assert "?c=" in action
    assert visitor.post(action).status_code == 200  # the page's one button
    page = admin.get(f"/admin/campaigns/{campaign.id}/progress").text
    assert '<dd id="figure-unsubscribed">1</dd>' in page
