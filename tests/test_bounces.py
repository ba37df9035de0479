"""Bounces (RFC 3464) and complaints (RFC 5965): matched, decided, applied."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter import bounces, campaigns, sending, subscriptions
from newsletter.addresses import address_hash
from newsletter.clock import frozen, utcnow
from newsletter.extensions import db
from newsletter.models import (
    BounceEvent,
    Campaign,
    CampaignStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    Subscriber,
    Suppression,
)
from tests import bounce_samples


@pytest.fixture
def app_config(app_config):
    return {**app_config, "BOUNCE_ADDRESS": "bounces@shop.example"}


@pytest.fixture
def send_campaign(make_campaign):
    """`send_campaign()`: a campaign sent (to the outbox) to every subscriber; returns it."""

    def send(subject: str = "Spring news") -> Campaign:
        campaign = make_campaign(subject=subject)
        campaigns.start_sending(campaign)
        db.session.commit()
        sending.send_pending("test-worker")
        db.session.expire_all()
        return db.session.get(Campaign, campaign.id)

    return send


def delivery_of(campaign: Campaign, email_address: str) -> Delivery:
    subscriber = subscriptions.find_subscriber(email_address)
    return db.session.scalar(
        select(Delivery).where(
            Delivery.campaign_id == campaign.id, Delivery.subscriber_id == subscriber.id
        )
    )


def verp_of(delivery: Delivery) -> str:
    return bounces.envelope_sender(delivery.id)


def process(raw: bytes, source: str = "test") -> str:
    outcome = bounces.process(raw, source)
    db.session.commit()
    db.session.expire_all()
    return outcome


def suppressed_channels(email_address: str) -> set[str]:
    digest = address_hash(email_address)
    return set(
        db.session.scalars(select(Suppression.channel).where(Suppression.address_hash == digest))
    )


def test_envelope_sender_is_a_signed_verp_address_within_the_local_part_limit(app):
    verp = bounces.envelope_sender(123456)
    local, domain = verp.split("@")
    assert domain == "shop.example"
    assert local.startswith("bounces+")
    assert len(local) <= 64  # RFC 5321 4.5.3.1.1
    assert bounces.delivery_from_text(f"To: <{verp}>".encode()) == 123456


def test_no_bounce_address_means_no_verp(app):
    app.config["BOUNCE_ADDRESS"] = None
    assert bounces.envelope_sender(1) is None


def test_forged_or_tampered_token_matches_no_delivery(app):
    verp = bounces.envelope_sender(7)
    tampered = verp.replace("+", "+x", 1)
    other_key = verp.split("+")[1].split(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    for text in (tampered, f"bounces+{other_key}@shop.example", "bounces+7@shop.example"):
        assert bounces.delivery_from_text(text.encode()) is None


def test_hard_bounce_suppresses_the_address_and_erases_it(make_subscriber, send_campaign):
    make_subscriber("ann@example.org")
    make_subscriber("bob@example.org")
    campaign = send_campaign()
    delivery = delivery_of(campaign, "ann@example.org")

    assert process(bounce_samples.dsn(verp_of(delivery))) == "suppressed"

    assert subscriptions.find_subscriber("ann@example.org") is None
    assert suppressed_channels("ann@example.org") == {Channel.EMAIL}
    reason = db.session.scalar(select(Suppression.reason))
    assert reason == "bounced"
    assert subscriptions.find_subscriber("bob@example.org") is not None
    event = db.session.scalar(select(BounceEvent))
    assert (event.kind, event.status, event.campaign_id) == ("hard", "5.1.1", campaign.id)


def test_the_same_report_twice_counts_once(make_subscriber, send_campaign):
    make_subscriber("ann@example.org")
    campaign = send_campaign()
    raw = bounce_samples.dsn(verp_of(delivery_of(campaign, "ann@example.org")), status="4.2.2")
    assert process(raw) == "retried"
    assert process(raw) == "duplicate"
    assert db.session.scalar(select(db.func.count()).select_from(BounceEvent)) == 1


def test_soft_bounce_is_retried_with_backoff_and_sent_again(make_subscriber, send_campaign, outbox):
    make_subscriber("ann@example.org")
    campaign = send_campaign()
    assert campaign.status == CampaignStatus.SENT
    delivery = delivery_of(campaign, "ann@example.org")
    raw = bounce_samples.dsn(
        verp_of(delivery), status="4.2.2", diagnostic="smtp; 452 4.2.2 Mailbox full"
    )

    assert process(raw) == "retried"

    delivery = db.session.get(Delivery, delivery.id)
    assert delivery.status == DeliveryStatus.DEFERRED
    assert delivery.next_attempt_at > utcnow()
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.SENDING
    assert subscriptions.find_subscriber("ann@example.org") is not None
    with frozen(delivery.next_attempt_at):
        assert sending.send_pending("test-worker")["sent"] == 1
    db.session.expire_all()
    assert len(outbox("ann@example.org")) == 2
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.SENT


def test_three_soft_bounces_in_a_row_suppress(make_subscriber, send_campaign):
    make_subscriber("ann@example.org")
    outcomes = []
    for number in range(3):
        campaign = send_campaign(f"News {number}")
        raw = bounce_samples.dsn(verp_of(delivery_of(campaign, "ann@example.org")), status="4.2.2")
        outcomes.append(process(raw))
    assert outcomes == ["retried", "retried", "suppressed"]
    assert suppressed_channels("ann@example.org") == {Channel.EMAIL}


def test_a_delivery_without_bounce_breaks_the_run(make_subscriber, send_campaign):
    make_subscriber("ann@example.org")
    first = send_campaign("One")
    send_campaign("Two")  # arrived: no report
    third = send_campaign("Three")
    for campaign in (first, third):
        raw = bounce_samples.dsn(verp_of(delivery_of(campaign, "ann@example.org")), status="4.2.2")
        assert process(raw) == "retried"
    assert subscriptions.find_subscriber("ann@example.org") is not None


def test_hard_limit_is_configurable(app, make_subscriber, send_campaign):
    app.config["BOUNCE_HARD_LIMIT"] = 2
    make_subscriber("ann@example.org")
    first, second = send_campaign("One"), send_campaign("Two")
    assert process(bounce_samples.dsn(verp_of(delivery_of(first, "ann@example.org")))) == "recorded"
    assert subscriptions.find_subscriber("ann@example.org") is not None
    raw = bounce_samples.dsn(verp_of(delivery_of(second, "ann@example.org")))
    assert process(raw) == "suppressed"


def test_complaint_is_an_objection_on_every_channel(make_subscriber, send_campaign):
    make_subscriber("ann@example.org")
    campaign = send_campaign()
    verp = verp_of(delivery_of(campaign, "ann@example.org"))

    assert process(bounce_samples.arf(verp)) == "suppressed"

    assert subscriptions.find_subscriber("ann@example.org") is None
    assert suppressed_channels("ann@example.org") == set(Channel.ALL)
    assert set(db.session.scalars(select(Suppression.reason))) == {"complained"}
    # The objection holds: the address cannot be imported or re-added silently.
    rates = bounces.campaign_rates(campaign)
    assert (rates["complaints"], rates["sent"]) == (1, 1)


@pytest.mark.parametrize("feedback_type", ["not-spam", "auth-failure", "virus"])
def test_feedback_that_is_not_a_complaint_changes_nothing(
    make_subscriber, send_campaign, feedback_type
):
    make_subscriber("ann@example.org")
    campaign = send_campaign()
    verp = verp_of(delivery_of(campaign, "ann@example.org"))
    assert process(bounce_samples.arf(verp, feedback_type=feedback_type)) == "ignored"
    assert subscriptions.find_subscriber("ann@example.org") is not None


@pytest.mark.parametrize("action", ["delayed", "delivered", "relayed"])
def test_dsn_that_is_not_a_failure_changes_nothing(make_subscriber, send_campaign, action):
    make_subscriber("ann@example.org")
    campaign = send_campaign()
    raw = bounce_samples.dsn(verp_of(delivery_of(campaign, "ann@example.org")), action=action)
    assert process(raw) == "ignored"
    assert db.session.scalar(select(BounceEvent.id)) is None


def test_status_falls_back_to_the_diagnostic_code(make_subscriber, send_campaign):
    make_subscriber("ann@example.org")
    campaign = send_campaign()
    raw = bounce_samples.dsn(
        verp_of(delivery_of(campaign, "ann@example.org")),
        status="unknown",
        diagnostic="smtp; 552 mailbox over quota",
    )
    report = bounces.parse(raw)
    assert (report.kind, report.status) == ("hard", "5.0.0")


def test_report_without_a_valid_token_is_unmatched(make_subscriber, send_campaign):
    make_subscriber("ann@example.org")
    send_campaign()
    assert process(bounce_samples.dsn("bounces@shop.example")) == "unmatched"
    assert process(
        bounce_samples.arf("bounces+abc.forgedsignatureforgedsignature@shop.example")
    ) == ("unmatched")
    assert subscriptions.find_subscriber("ann@example.org") is not None


def test_bounce_for_an_erased_subscriber_is_only_counted(make_subscriber, send_campaign):
    subscriber = make_subscriber("ann@example.org")
    campaign = send_campaign()
    verp = verp_of(delivery_of(campaign, "ann@example.org"))
    subscriptions.erase(
        db.session.get(Subscriber, subscriber.id),
        "unsubscribed",
        (Channel.EMAIL,),
        subscriptions.Evidence("test"),
    )
    db.session.commit()
    assert process(bounce_samples.arf(verp)) == "recorded"
    assert bounces.campaign_rates(campaign)["complaints"] == 1


@pytest.mark.parametrize(
    "raw",
    [b"", b"   ", bounce_samples.out_of_office(), b"\xff\xfe\x00garbage", b"Content-Type: x/y\r\n"],
)
def test_anything_else_is_a_clear_report_error(app, raw):
    with pytest.raises(bounces.ReportError):
        bounces.parse(raw)


def test_bounce_records_hold_no_address(make_subscriber, send_campaign):
    make_subscriber("ann@example.org")
    campaign = send_campaign()
    process(bounce_samples.dsn(verp_of(delivery_of(campaign, "ann@example.org"))))
    for event in db.session.scalars(select(BounceEvent)):
        assert "ann@" not in repr(vars(event))


def test_campaign_rates_warn_at_point_one_and_pause_at_point_three_percent(
    make_subscriber, send_campaign
):
    for number in range(10):
        make_subscriber(f"p{number}@example.org")
    campaign = send_campaign()
    rates = bounces.campaign_rates(campaign)
    assert rates == {
        "sent": 10,
        "hard_bounces": 0,
        "soft_bounces": 0,
        "complaints": 0,
        "bounce_rate": 0.0,
        "complaint_rate": 0.0,
        "level": "ok",
        "warning": False,
        "pause_recommended": False,
    }
    process(bounce_samples.dsn(verp_of(delivery_of(campaign, "p0@example.org"))))
    process(bounce_samples.arf(verp_of(delivery_of(campaign, "p1@example.org"))))
    rates = bounces.campaign_rates(campaign)
    assert (rates["hard_bounces"], rates["complaints"]) == (1, 1)
    assert rates["bounce_rate"] == pytest.approx(0.1)
    assert rates["complaint_rate"] == pytest.approx(0.1)
    assert rates["level"] == "pause"
    assert rates["pause_recommended"]
    assert rates["warning"]


# --- with the real sending engine and a real SMTP server ---------------------------------


@pytest.fixture
def smtp_app(app, smtp_server):
    """The app sending to the loopback SMTP server (tests/smtp_sink.py)."""
    app.config.update(smtp_server.config())
    return app


def test_each_message_leaves_with_its_own_verp_return_path(
    smtp_app, smtp_server, make_subscriber, send_campaign
):
    make_subscriber("ann@example.org")
    make_subscriber("bob@example.org")
    campaign = send_campaign()
    by_recipient = {m.rcpt_tos[0]: m.mail_from for m in smtp_server.messages}
    assert len(set(by_recipient.values())) == 2
    ann_return_path = by_recipient["ann@example.org"]
    assert ann_return_path == verp_of(delivery_of(campaign, "ann@example.org"))

    # The remote server bounces it back to that envelope sender: Ann is suppressed.
    assert process(bounce_samples.dsn(ann_return_path)) == "suppressed"
    assert subscriptions.find_subscriber("ann@example.org") is None
    assert subscriptions.find_subscriber("bob@example.org") is not None


def test_smtp_550_at_send_time_is_a_hard_bounce_that_suppresses(
    smtp_app, smtp_server, make_subscriber, send_campaign
):
    make_subscriber("ann@example.org")
    make_subscriber("bob@example.org")
    smtp_server.fail_next.append("550 5.1.1 <ann@example.org>: no such user")
    campaign = send_campaign()
    db.session.expire_all()
    assert subscriptions.find_subscriber("ann@example.org") is None
    assert suppressed_channels("ann@example.org") == {Channel.EMAIL}
    event = db.session.scalar(select(BounceEvent))
    assert (event.kind, event.status, event.source) == ("hard", "5.1.1", "smtp")
    assert bounces.campaign_rates(campaign)["hard_bounces"] == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [["bob@example.org"]]


def test_admin_progress_page_shows_rates_and_the_pause_advice(
    app, admin_client, make_subscriber, send_campaign
):
    make_subscriber("ann@example.org")
    make_subscriber("bob@example.org")
    campaign = send_campaign()
    page = admin_client.get(f"/admin/campaigns/{campaign.id}/progress").text
    assert "Bounces and complaints" in page
    assert 'id="rates-advice"' not in page

    process(bounce_samples.arf(verp_of(delivery_of(campaign, "ann@example.org"))))
    page = admin_client.get(f"/admin/campaigns/{campaign.id}/progress").text
    assert '<dd id="count-complaints">1</dd>' in page
    assert '<dd id="complaint-rate">50.00 %</dd>' in page
    assert "Pause sending" in page
