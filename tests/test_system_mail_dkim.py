"""Every mail the app sends is DKIM-signed when DKIM is configured, and SMTP EHLO names
MAIL_EHLO_NAME (by default the sender's domain).

Signatures are checked with dkimpy's own `dkim.verify`, with the DNS lookup answered
from the test's key (no network); the mails come from the real journeys (signup form,
the re-consent job, a campaign), through the outbox and through a real SMTP server.
"""

from __future__ import annotations

import base64
import email
import email.policy
from datetime import timedelta

import dkim
import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from newsletter import campaigns, clock, reconsent, sending
from newsletter.extensions import db
from newsletter.models import OutboxMessage
from tests.helpers import free_port, signup

SELECTOR, DOMAIN = "news", "shop.example"


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory):
    """A 2048-bit key in a PEM file, and its DNS TXT record."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
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
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


@pytest.fixture
def app_config(app_config, dkim_key):
    return {
        **app_config,
        "DKIM_DOMAIN": DOMAIN,
        "DKIM_SELECTOR": SELECTOR,
        "DKIM_PRIVATE_KEY_PATH": str(dkim_key[0]),
    }


def verifies(raw: bytes, record: bytes) -> bool:
    """dkimpy's verdict, the key looked up in our table instead of DNS."""

    def dns(name, timeout=5):
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode()
        return record

    return dkim.verify(raw, dnsfunc=dns)


def outbox_raw(recipient: str) -> list[bytes]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == recipient).order_by(OutboxMessage.id)
    )
    return [row.raw for row in rows]


def signed_headers(raw: bytes) -> set[str]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    tags = dict(
        t.strip().split("=", 1) for t in str(message["DKIM-Signature"]).split(";") if t.strip()
    )
    return set("".join(tags["h"].split()).split(":"))


@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_confirmation_mail_in_the_outbox_is_signed(client, dkim_key, lang):
    """What `flask outbox show` shows is what would be sent: the signed bytes."""
    response = signup(client, f"ann.{lang}@example.org", headers={"Accept-Language": lang})
    assert response.status_code == 200
    [raw] = outbox_raw(f"ann.{lang}@example.org")
    assert verifies(raw, dkim_key[1])
    assert {"from", "to", "subject", "date", "message-id"} <= signed_headers(raw)
    date = str(email.message_from_bytes(raw, policy=email.policy.default)["Date"])
    assert date.endswith(" +0000")  # a numeric zone, not the obsolete "GMT"
    tampered = raw.replace(b"/confirm/", b"/confirm/x", 1)
    assert not verifies(tampered, dkim_key[1])


@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_reconsent_mail_is_signed(app, make_subscriber, dkim_key, lang):
    subscriber = make_subscriber(
        f"old.{lang}@example.org", consented_at=clock.utcnow() - timedelta(days=800)
    )
    subscriber.locale = lang
    db.session.commit()
    assert reconsent.request_due(clock.utcnow(), 730) == 1
    db.session.commit()
    [raw] = outbox_raw(f"old.{lang}@example.org")
    assert verifies(raw, dkim_key[1])


def test_unsigned_without_dkim_configuration(app, client):
    app.config["DKIM_DOMAIN"] = None
    signup(client, "ann@example.org")
    [raw] = outbox_raw("ann@example.org")
    assert b"DKIM-Signature" not in raw


# --- through a real SMTP server: the signature survives, EHLO names the sender's domain --


class _EhloRecorder:
    """aiosmtpd handler keeping the EHLO names and the messages it received."""

    def __init__(self):
        self.ehlo_names: list[str] = []
        self.messages: list[bytes] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.ehlo_names.append(hostname)
        return responses

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.original_content)
        return "250 2.0.0 OK"


@pytest.fixture
def smtp_recorder():
    handler = _EhloRecorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.config = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port}
    yield handler
    controller.stop()


@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_confirmation_over_smtp_is_signed_and_ehlo_is_the_sender_domain(
    app, client, smtp_recorder, dkim_key, lang
):
    app.config.update(smtp_recorder.config)  # read at send time: from now on, real SMTP
    response = signup(client, f"ann.{lang}@example.org", headers={"Accept-Language": lang})
    assert response.status_code == 200
    [raw] = smtp_recorder.messages
    assert verifies(raw, dkim_key[1])
    assert outbox_raw(f"ann.{lang}@example.org") == []
    # MAIL_DEFAULT_SENDER is "Demo Shop <news@shop.example>" in the test configuration.
    assert smtp_recorder.ehlo_names == ["shop.example"]


def test_mail_ehlo_name_is_used_by_system_mail_and_campaign_sending(
    app, client, smtp_recorder, dkim_key, make_subscriber, make_campaign
):
    app.config.update(smtp_recorder.config, MAIL_EHLO_NAME="mx-out.shop.example")
    signup(client, "new@example.org")
    make_subscriber("ann@example.org")
    campaigns.start_sending(make_campaign())
    db.session.commit()
    assert sending.send_pending("w1")["sent"] == 1
    assert smtp_recorder.ehlo_names == ["mx-out.shop.example", "mx-out.shop.example"]
    assert len(smtp_recorder.messages) == 2
    assert all(verifies(raw, dkim_key[1]) for raw in smtp_recorder.messages)
