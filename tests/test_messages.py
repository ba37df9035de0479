"""Building marketing messages: layout, footer, headers, sanitising, DKIM (outbox mode)."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta

import dkim
import pytest
from babel.dates import format_date
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jinja2 import ChoiceLoader, DictLoader
from sqlalchemy import select

from newsletter import campaigns, clock, compliance, messages, sending
from newsletter.clock import utcnow
from newsletter.extensions import db
from newsletter.models import Basis, Campaign, CampaignStatus, Delivery
from tests.helpers import BASE_URL, mail_html, mail_text


def send_all(campaign: Campaign) -> dict:
    campaigns.start_sending(campaign)
    db.session.commit()
    return sending.send_pending("test")


def raw_messages() -> list[bytes]:
    from newsletter.models import OutboxMessage

    db.session.expire_all()
    return [row.raw for row in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_every_message_type_passes_the_compliance_check(make_campaign, make_subscriber, make_topic):
    make_topic("offers", own_similar_products=True)
    make_subscriber("fan@example.org", name="Fan")
    make_subscriber(
        "buyer@example.org",
        topics=("offers",),
        basis=Basis.EXISTING_CUSTOMER,
        purchased_at=utcnow() - timedelta(days=30),
    )
    send_all(make_campaign())
    send_all(make_campaign(topic_slug="offers", preheader="Our spring range"))
    campaigns.send_test(make_campaign(), "boss@example.org")
    db.session.commit()
    *campaign_mail, test_mail = raw_messages()
    assert len(campaign_mail) == 2  # consent basis, existing-customer basis
    for raw in campaign_mail:
        assert compliance.check_marketing_message(raw) == []
        assert compliance.check_marketing_message(parse(raw)) == []
    # A test send claims no consent: its own reason line, checked by its own rule.
    assert compliance.check_test_message(test_mail) == []
    assert compliance.check_test_message(parse(test_mail)) == []


def test_rfc8058_headers_are_exact(make_campaign, make_subscriber):
    subscriber = make_subscriber("ann@example.org")
    send_all(make_campaign())
    [raw] = raw_messages()
    message = parse(raw)
    assert message.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    [header] = message.get_all("List-Unsubscribe")
    uris = re.findall(r"<([^>]+)>", str(header))
    assert len(uris) == 2
    https, mailto = uris
    assert https.startswith(f"{BASE_URL}/unsubscribe/")
    token = https.rsplit("/", 1)[1].split("?")[0]  # `?c=`: the campaign, for its figures
    assert mailto == f"mailto:unsubscribe@shop.example?subject=unsubscribe%20{token}"
    assert subscriber.public_id in _token_payload(token)
    assert "ann@example.org" not in https  # opaque token, never the address
    assert message["List-Help"] == f"<{message['List-Help'][1:-1]}>"
    assert "/preferences/" in message["List-Help"]
    assert message["List-Id"] == "Newsletter <newsletter.news.example.test>"
    assert re.fullmatch(r"<[^@]+@news\.example\.test>", message["Message-ID"])
    assert message.get_content_type() == "multipart/alternative"


def _token_payload(token: str) -> str:
    import base64

    part = token.split(".")[0]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


def test_one_click_post_from_the_header_unsubscribes(client, make_campaign, make_subscriber):
    make_subscriber("ann@example.org")
    send_all(make_campaign())
    header = str(parse(raw_messages()[0])["List-Unsubscribe"])
    https = re.findall(r"<(https://[^>]+)>", header)[0]
    response = client.post(https.removeprefix(BASE_URL), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert make_campaign().id  # the app still works
    assert campaigns.start_sending(make_campaign()) == 0  # she is gone


def test_body_that_tries_to_drop_or_hide_the_links_still_has_them(make_campaign, make_subscriber):
    make_subscriber("ann@example.org")
    hostile = (
        "Buy now!\n\n<!-- \n\n</div></div></body></html>\n\n"
        '<div style="display:none">\n\n<style>.footer{display:none}</style>\n\n'
        "[Unsubscribe](https://evil.example/keep-you)\n\n{{ unsubscribe_url }}"
    )
    send_all(make_campaign(body=hostile))
    message = parse(raw_messages()[0])
    text, page = mail_text(message), mail_html(message)
    https = re.findall(r"<(https://[^>]+)>", str(message["List-Unsubscribe"]))[0]
    for part in (text, page):
        assert https in part
        assert message["List-Help"][1:-1] in part
        assert "Rue de l'Exemple 1" in part.replace("&#x27;", "'").replace("&#39;", "'")
        assert "You receive this email because you subscribed" in part
    assert "display:none" not in page.split('class="content"')[1].split("footer")[0]
    assert "<style" not in page
    # The author's comment is gone (the layout's own Outlook conditional comments aside).
    assert "<!--" not in re.sub(r"<!--\[if mso\]>.*?<!\[endif\]-->", "", page, flags=re.S)
    assert "{{ unsubscribe_url }}" in text  # the author's text is never a template


def test_script_and_event_handler_html_is_removed(make_campaign):
    campaign = make_campaign(
        body=(
            "<script>alert(1)</script>\n\n"
            '<a href="javascript:alert(2)" onclick="steal()">click</a> '
            '<img src="https://shop.example/a.png" onerror="bad()"> '
            '<a href="https://shop.example/spring?utm=x&amp;a=1">shop</a>'
        )
    )
    page, text = campaigns.preview(campaign, None)
    lowered = page.lower()
    assert "<script" not in lowered
    assert "alert(1)" not in page
    assert "javascript:" not in lowered
    assert "onclick" not in lowered
    assert "onerror" not in lowered
    assert 'href="https://shop.example/spring?utm=x&amp;a=1"' in page  # unchanged, no tracking
    assert "https://shop.example/spring?utm=x&a=1" in text


def test_author_text_is_never_evaluated_as_a_template(make_campaign, app):
    campaign = make_campaign(body="{{ config.SECRET_KEY }} {% if 1 %}x{% endif %} {{7*7}}")
    page, text = campaigns.preview(campaign, None)
    assert app.config["SECRET_KEY"] not in page + text
    assert "{{ config.SECRET_KEY }}" in text
    assert "{{7*7}}" in text
    assert "49" not in re.sub(r"https?://\S+", "", text)  # a link's token may hold "49"


def test_crlf_in_subject_or_name_never_becomes_a_header(make_campaign, make_subscriber):
    make_subscriber("ann@example.org", name="Ann\r\nBcc: victim@example.org")
    send_all(make_campaign(subject="Hi\r\nBcc: victim@example.org\nX-Evil: 1"))
    [raw] = raw_messages()
    message = parse(raw)
    assert message["Bcc"] is None
    assert message["X-Evil"] is None
    assert message["Subject"] == "Hi Bcc: victim@example.org X-Evil: 1"
    assert message["To"].addresses[0].addr_spec == "ann@example.org"


def test_footer_states_the_real_basis_and_its_date(make_campaign, make_subscriber, make_topic):
    make_topic("offers", own_similar_products=True)
    # Noon UTC: the footer gives the day in the shop's zone (Brussels), the same day at noon.
    bought = utcnow().replace(year=2025, month=3, day=14, hour=12)
    buyer = make_subscriber(
        "buyer@example.org", topics=("offers",), basis=Basis.EXISTING_CUSTOMER, purchased_at=bought
    )
    fan = make_subscriber("fan@example.org", topics=("offers",))
    campaign = make_campaign(topic_slug="offers")
    _page, text = campaigns.preview(campaign, buyer)
    assert "you bought from Demo Shop (purchase on March 14, 2025)" in text
    _page, text = campaigns.preview(campaign, fan)
    # The day in the shop's zone: after 23:00 UTC it is already tomorrow in Brussels.
    day = format_date(clock.local(fan.confirmed_at), "long", locale="en")
    assert f"confirmed your consent on {day}" in text


def test_no_line_over_998_octets_even_with_a_huge_paragraph(make_campaign, make_subscriber):
    make_subscriber("ann@example.org")
    send_all(make_campaign(body="word" * 5000 + "\n\n" + "x " * 3000))
    [raw] = raw_messages()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert "word" * 5000 in mail_text(parse(raw))


def test_message_ids_are_unique_and_carry_a_domain(make_campaign, make_subscriber):
    make_subscriber("a@example.org")
    make_subscriber("b@example.org")
    send_all(make_campaign())
    ids = [parse(raw)["Message-ID"] for raw in raw_messages()]
    assert len(set(ids)) == 2
    assert all(i.endswith("@news.example.test>") for i in ids)


def test_a_layout_without_a_footer_still_sends_the_system_footer(
    app, make_campaign, make_subscriber
):
    """Issue 13: the footer is the system's; a bare layout cannot drop it."""
    make_subscriber("ann@example.org")
    campaign = make_campaign()
    bare = DictLoader(
        {"email/layout.html": "<p>{{ content }}</p>", "email/layout.txt": "{{ content }}"}
    )
    app.jinja_loader = ChoiceLoader([bare, app.jinja_loader])
    app.jinja_env.loader = app.jinja_loader
    send_all(campaign)
    [raw] = raw_messages()
    message = parse(raw)
    assert compliance.check_marketing_message(raw) == []
    for part in (mail_text(message), mail_html(message)):
        assert "Unsubscribe from all marketing" in part
        assert "You receive this email because you subscribed" in part


def test_send_is_refused_when_the_layout_prints_its_own_footer(app, make_campaign, make_subscriber):
    make_subscriber("ann@example.org")
    campaign = make_campaign()
    own = DictLoader(
        {
            "email/layout.html": '<p>{{ content }}</p><p style="display:none">{{ reason }}</p>',
            "email/layout.txt": "{{ content }}",
        }
    )
    app.jinja_loader = ChoiceLoader([own, app.jinja_loader])
    app.jinja_env.loader = app.jinja_loader
    with pytest.raises(campaigns.CampaignError, match=r"prints \{\{ reason \}\}"):
        campaigns.start_sending(campaign)
    db.session.rollback()
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT
    assert db.session.scalar(select(Delivery.id)) is None
    assert raw_messages() == []


@pytest.fixture
def dkim_key(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64

    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    return path, record


def test_dkim_signature_verifies_and_covers_the_listed_headers(
    app, make_campaign, make_subscriber, dkim_key
):
    path, record = dkim_key
    app.config.update(
        DKIM_DOMAIN="shop.example", DKIM_SELECTOR="news", DKIM_PRIVATE_KEY_PATH=str(path)
    )
    make_subscriber("ann@example.org", name="Ann Müller")
    send_all(make_campaign(subject="Spring news: 20 % off ✿"))
    [raw] = raw_messages()

    def dns(name, timeout=5):
        assert name == b"news._domainkey.shop.example."
        return record

    assert dkim.verify(raw, dnsfunc=dns)
    signature = parse(raw)["DKIM-Signature"]
    tags = dict(t.strip().split("=", 1) for t in str(signature).split(";") if t.strip())
    signed = set(re.sub(r"\s", "", tags["h"]).split(":"))
    assert {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    } <= signed
    assert tags["d"].strip() == "shop.example"
    tampered = raw.replace(b"List-Unsubscribe-Post: List", b"List-Unsubscribe-Post:  List")
    assert dkim.verify(tampered, dnsfunc=dns)  # relaxed: whitespace may change
    tampered = raw.replace(b"Subject: ", b"Subject: Re: ", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)
    added = raw.replace(
        b"MIME-Version", b"List-Unsubscribe: <https://evil.example/>\r\nMIME-Version"
    )
    assert not dkim.verify(added, dnsfunc=dns)  # oversigned: an extra copy breaks it


def test_dkim_signature_verifies_whatever_the_line_ends(app, dkim_key):
    """The signer reads only the header block of a CRLF message; other line ends take
    dkimpy's whole-message parse. Both verify."""
    from newsletter.sending.signing import DkimSigner

    path, record = dkim_key
    signer = DkimSigner("shop.example", "news", path.read_bytes())

    def dns(name, timeout=5):
        return record

    head = b"From: a@shop.example\r\nTo: b@example.org\r\nSubject: Hi\r\n folded\r\n"
    for raw in (
        head + b"\r\nline one\r\n\r\n\r\n",
        (head + b"\r\nline one\r\n").replace(b"\r\n", b"\n"),
        head + b"\r\nbare\nline feed\r\n",
    ):
        signed = signer.sign(raw)
        assert dkim.verify(signed, dnsfunc=dns), raw
        assert not dkim.verify(signed.replace(b"line", b"LINE"), dnsfunc=dns)


def test_preview_is_what_the_subscriber_gets(make_campaign, make_subscriber):
    ann = make_subscriber("ann@example.org")
    campaign = make_campaign()
    page, text = campaigns.preview(campaign, ann)
    send_all(campaign)
    message = parse(raw_messages()[0])
    assert mail_text(message) == text
    assert mail_html(message) == page


def test_check_refuses_a_message_without_the_footer_links(make_campaign):
    campaign = make_campaign()
    prepared = messages.prepare(campaign)
    raw = prepared.build(messages.sample_recipient())
    assert compliance.check_marketing_message(raw) == []
    stripped = raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", b"")
    assert any("List-Unsubscribe-Post" in p for p in compliance.check_marketing_message(stripped))
