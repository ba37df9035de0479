"""`flask outbox show` and the admin's Outbox page show a campaign message readably: the
headers decoded, the text part decoded (long links whole, accents as written), and the
raw message only when asked for it (`--raw`, or the "raw message" disclosure)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from newsletter import campaigns, sending
from newsletter.extensions import db
from newsletter.models import OutboxMessage

LINK = "https://shop.example/spring/collection?utm_source=newsletter&utm_medium=email&utm_campaign=spring-2026"
SUBJECT = "Één nieuwe collectie — voorjaar"
BODY = f"Beste lezer, onze **voorjaarscollectie** is er: [bekijk ze hier]({LINK}). Tot ziens!"


@pytest.fixture
def campaign_message(make_campaign, make_subscriber) -> OutboxMessage:
    make_subscriber("ann@example.org", name="Ann Peeters")
    campaign = make_campaign(subject=SUBJECT, body=BODY)
    campaigns.start_sending(campaign)
    db.session.commit()
    assert sending.send_pending("test-worker")["sent"] == 1
    return db.session.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc()))


def test_outbox_show_prints_headers_and_the_decoded_text_part(runner, campaign_message):
    raw = campaign_message.raw.decode()
    assert LINK not in raw  # as sent, the link is cut by soft line breaks or in base64
    result = runner.invoke(args=["outbox", "show", str(campaign_message.id)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"Subject: {SUBJECT}\n" in out
    assert "To: Ann Peeters <ann@example.org>\n" in out
    assert LINK in out  # whole, on one line
    assert "voorjaarscollectie" in out
    assert "=\n" not in out  # no quoted-printable soft breaks
    assert "Content-Transfer-Encoding" not in out
    assert f"flask outbox show {campaign_message.id} --raw" in result.stderr


def test_outbox_show_raw_and_html(runner, campaign_message):
    raw = runner.invoke(args=["outbox", "show", str(campaign_message.id), "--raw"])
    assert raw.exit_code == 0
    assert raw.stdout.rstrip("\n") == campaign_message.raw.decode().rstrip("\r\n").replace(
        "\r\n", "\n"
    )
    html = runner.invoke(args=["outbox", "show", str(campaign_message.id), "--html"])
    assert html.exit_code == 0
    assert f'href="{LINK.replace("&", "&amp;")}"' in html.stdout


def test_admin_outbox_page_shows_the_decoded_text(admin_client, campaign_message):
    page = admin_client.get(f"/admin/outbox/{campaign_message.id}").text
    text_part = re.search(
        r'<h2>Text part \(decoded\)</h2>\s*<pre class="mail-text">(.*?)</pre>', page, re.S
    )
    assert LINK.replace("&", "&amp;") in text_part.group(1)
    assert "voorjaarscollectie" in text_part.group(1)
    assert re.search(r'<details id="raw"><summary>The raw message', page)
