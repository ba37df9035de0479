"""Campaigns through a real MTA: Debian's Postfix on loopback (tests/postfix.py), with
its default PIPELINING and CHUNKING, delivering to a maildir. What a user checks: each
recipient finds the campaign in the mailbox exactly once, in their language; a
recipient the relay refuses does not disturb the messages around it in the window.

Skipped, with the reason, where Postfix is not installed or cannot be started (its
master process needs root). CI installs it (.ci/run).
"""

from __future__ import annotations

import email
import email.policy
import json

import pytest
from sqlalchemy import select

from newsletter import campaigns, sending
from newsletter.extensions import db
from newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Subscriber
from tests import postfix
from tests.helpers import mail_html, mail_text

pytestmark = pytest.mark.postfix

FOOTERS = {
    "nl": "Uitschrijven voor alle marketing",
    "fr": "Se désinscrire de tout marketing",
    "en": "Unsubscribe from all marketing",
}


@pytest.fixture
def mta():
    reason = postfix.available()
    if reason:
        pytest.skip(reason)
    with postfix.PostfixInstance() as instance:
        yield instance


@pytest.fixture
def app_config(app_config, mta):
    """The default configuration but for the relay: Postfix on loopback, no auth, no TLS."""
    return {**app_config, "MAIL_SERVER": mta.host, "MAIL_PORT": mta.port}


def _people(make_subscriber, count: int, prefix: str = "reader") -> dict[str, str]:
    """`count` subscribers in nl, fr and en in turn: {address: locale}."""
    people = {}
    for number in range(count):
        locale = ("nl", "fr", "en")[number % 3]
        subscriber = make_subscriber(f"{prefix}{number}@example.org")
        subscriber.locale = locale
        people[subscriber.email] = locale
    db.session.commit()
    return people


def _parsed(path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def test_send_wait_through_postfix_reaches_each_mailbox_exactly_once(
    app, runner, make_subscriber, make_campaign, mta
):
    """`flask campaign send ID --wait` with the default settings (as many processes as
    the machine has, batches of 100), 240 recipients in three languages."""
    people = _people(make_subscriber, 240)
    campaign = make_campaign(subject="Through Postfix", body="Hello from a **real** relay.")

    result = runner.invoke(args=["campaign", "send", str(campaign.id), "--wait"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert (report["status"], report["sent"], report["failed"]) == ("sent", 240, 0)
    delivered = mta.wait_for(240)
    assert delivered == dict.fromkeys(people, 1), mta.log()[-3000:]
    for path in mta.maildir_files():
        message = _parsed(path)
        address = message["Delivered-To"].lower()
        assert message["To"] == address
        assert message["Subject"] == "Through Postfix"
        footer = FOOTERS[people[address]]
        assert footer in mail_text(message), address
        assert footer in mail_html(message), address
        assert "real" in mail_text(message)


def test_refusals_in_the_middle_of_the_window_concern_their_own_message_only(
    app, make_subscriber, make_campaign, mta
):
    """Postfix refuses `reject*` at RCPT (550) and `defer*` (450), then refuses their
    BDAT chunk too; the replies of the messages around them stay matched to their own
    message (40 recipients, a window of 16)."""
    people = _people(make_subscriber, 36)
    for prefix in ("reject", "defer"):
        people |= _people(make_subscriber, 2, prefix=f"{prefix}.me")
    campaign = make_campaign(subject="Window", body="Hello.")
    campaigns.start_sending(campaign)
    db.session.commit()

    counts = sending.send_pending("w")

    assert counts == {"batches": 1, "sent": 36, "failed": 2, "deferred": 2}
    rows = db.session.execute(
        select(Subscriber.email, Delivery.status, Delivery.last_error).join(
            Subscriber, Subscriber.id == Delivery.subscriber_id
        )
    ).all()
    for address, status, error in rows:
        if address.startswith("reject"):
            assert (status, error[:3]) == (DeliveryStatus.FAILED, "550"), address
        elif address.startswith("defer"):
            assert (status, error[:3]) == (DeliveryStatus.DEFERRED, "450"), address
        else:
            assert (status, error) == (DeliveryStatus.SENT, None), address
    ok = {address for address in people if address.startswith("reader")}
    assert mta.wait_for(36) == dict.fromkeys(ok, 1)
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.SENDING  # 2 deferred


@pytest.fixture
def tls_mta():
    reason = postfix.available()
    if reason:
        pytest.skip(reason)
    with postfix.PostfixInstance(tls=True) as instance:
        yield instance


def test_starttls_with_the_window_delivers_each_message_once(
    app, make_subscriber, make_campaign, tls_mta
):
    """MAIL_USE_TLS against a relay offering STARTTLS (a self-signed certificate, as
    smtplib does not verify it by default): the window reads its replies through TLS."""
    app.config.update(MAIL_SERVER=tls_mta.host, MAIL_PORT=tls_mta.port, MAIL_USE_TLS=True)
    people = _people(make_subscriber, 60)
    campaign = make_campaign(subject="Over TLS", body="Hello, privately.")
    campaigns.start_sending(campaign)
    db.session.commit()

    counts = sending.send_pending("w")

    assert counts == {"batches": 1, "sent": 60}
    assert tls_mta.wait_for(60) == dict.fromkeys(people, 1)
    for path in tls_mta.maildir_files():
        message = _parsed(path)
        assert "with ESMTPS" in message["Received"], "sent over TLS"
        assert FOOTERS[people[message["Delivered-To"].lower()]] in mail_text(message)
