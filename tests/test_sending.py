"""The sending engine against a real SMTP server on loopback (tests/smtp_sink.py)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter import campaigns, compliance, messages, sending, subscriptions
from newsletter.addresses import address_hash
from newsletter.clock import frozen, utcnow
from newsletter.extensions import db
from newsletter.models import (
    Basis,
    Campaign,
    CampaignStatus,
    Channel,
    Delivery,
    Subscriber,
    SubscriberStatus,
    Suppression,
)


@pytest.fixture
def app_config(app_config, smtp_server):
    """Every test here sends to the real loopback SMTP server."""
    return {**app_config, **smtp_server.config()}


@pytest.fixture
def people(make_subscriber):
    """`people(n)`: n active, consenting subscribers of the newsletter."""

    def make(n: int, prefix: str = "p"):
        return [make_subscriber(f"{prefix}{i}@example.org") for i in range(n)]

    return make


def send_now(campaign: Campaign, **kwargs) -> dict:
    campaigns.start_sending(campaign)
    db.session.commit()
    return sending.send_pending("test-worker", **kwargs)


def received_by(smtp_server) -> list[str]:
    return sorted(rcpt for m in smtp_server.messages for rcpt in m.rcpt_tos)


def status_of(campaign: Campaign) -> dict:
    db.session.expire_all()
    return campaigns.campaign_status(db.session.get(Campaign, campaign.id))


def test_campaign_reaches_each_lawful_recipient_once(make_campaign, people, smtp_server):
    people(5)
    campaign = make_campaign()
    counts = send_now(campaign, batch_size=2)
    assert counts["sent"] == 5
    assert counts["batches"] == 3
    assert received_by(smtp_server) == [f"p{i}@example.org" for i in range(5)]
    status = status_of(campaign)
    assert (status["status"], status["total"], status["sent"], status["queued"]) == (
        CampaignStatus.SENT,
        5,
        5,
        0,
    )
    assert smtp_server.connections == 1  # one persistent connection for every batch


def test_pending_and_suppressed_addresses_never_get_a_campaign(
    make_campaign, make_subscriber, smtp_server
):
    make_subscriber("ok@example.org")
    make_subscriber("pending@example.org", status=SubscriberStatus.PENDING)
    make_subscriber("objected@example.org")
    db.session.add(
        Suppression(
            address_hash=address_hash("objected@example.org"),
            channel=Channel.EMAIL,
            reason="objection",
        )
    )
    db.session.commit()
    campaign = make_campaign()
    assert campaigns.start_sending(campaign) == 1
    db.session.commit()
    sending.send_pending("w")
    assert received_by(smtp_server) == ["ok@example.org"]


def test_existing_customer_basis_only_on_own_similar_products_topics(
    make_campaign, make_subscriber, make_topic, smtp_server
):
    make_topic("offers", own_similar_products=True)
    customer = dict(basis=Basis.EXISTING_CUSTOMER, purchased_at=utcnow() - timedelta(days=9))
    make_subscriber("buyer@example.org", topics=("newsletter", "offers"), **customer)
    make_subscriber("fan@example.org", topics=("newsletter", "offers"))
    make_subscriber("nobuy@example.org", topics=("offers",), basis=Basis.EXISTING_CUSTOMER)
    newsletter, offers = make_campaign(), make_campaign(topic_slug="offers")
    assert campaigns.start_sending(newsletter) == 1  # the consenting fan only
    assert campaigns.start_sending(offers) == 2  # fan and the buyer with a purchase
    db.session.commit()
    sending.send_pending("w")
    assert received_by(smtp_server) == [
        "buyer@example.org",
        "fan@example.org",
        "fan@example.org",
    ]


def test_optout_during_a_send_means_no_message_after_it(app, make_campaign, people, smtp_server):
    victims = people(4)
    leaver_id = victims[2].id

    def unsubscribe_after_first(received):
        if len(smtp_server.messages) == 1:
            with app.app_context():
                leaver = db.session.get(Subscriber, leaver_id)
                subscriptions.erase(
                    leaver, "unsubscribed", Channel.ALL, subscriptions.Evidence("test")
                )
                db.session.commit()

    smtp_server.handler.on_message = unsubscribe_after_first
    counts = send_now(make_campaign(), batch_size=10)
    assert "p2@example.org" not in received_by(smtp_server)
    assert counts == {"batches": 1, "sent": 3, "skipped": 1}
    assert status_of(Campaign(id=1))["skipped"] == 1


def test_smtp_451_defers_then_retries_with_backoff(make_campaign, people, smtp_server):
    people(3)
    smtp_server.fail_next.append("451 4.3.0 try again later")
    campaign = make_campaign()
    start = utcnow()
    with frozen(start):
        counts = send_now(campaign)
    assert counts["deferred"] == 1
    assert counts["sent"] == 2
    deferred = db.session.scalar(select(Delivery).where(Delivery.status == "deferred"))
    assert deferred.next_attempt_at == start + sending.RETRY_BASE
    assert deferred.last_error.startswith("451")
    assert status_of(campaign)["status"] == CampaignStatus.SENDING  # not finished yet
    with frozen(start + timedelta(minutes=1)):
        assert sending.send_pending("w").get("sent") is None  # not before its time
    with frozen(start + sending.RETRY_BASE):
        assert sending.send_pending("w")["sent"] == 1
    assert status_of(campaign)["status"] == CampaignStatus.SENT
    assert len(smtp_server.messages) == 3


def test_smtp_550_is_a_hard_bounce_never_retried(make_campaign, people, smtp_server):
    people(2)
    smtp_server.fail_next.append("550 5.1.1 no such user")
    campaign = make_campaign()
    counts = send_now(campaign)
    assert counts == {"batches": 1, "failed": 1, "sent": 1}
    failed = db.session.scalar(select(Delivery).where(Delivery.status == "failed"))
    assert failed.last_error.startswith("550")
    assert failed.next_attempt_at is None
    with frozen(utcnow() + timedelta(days=3)):
        assert sending.send_pending("w") == {"batches": 0}
    assert status_of(campaign)["status"] == CampaignStatus.SENT
    assert status_of(campaign)["failed"] == 1


def test_smtp_421_defers_and_reconnects(make_campaign, people, smtp_server):
    people(3)
    smtp_server.fail_next.append("421 4.3.2 service shutting down")
    counts = send_now(make_campaign())
    assert counts["deferred"] == 1
    assert counts["sent"] == 2
    assert smtp_server.connections == 2


def test_dropped_connection_defers_in_flight_message_and_reconnects(
    make_campaign, people, smtp_server
):
    people(3)
    smtp_server.fail_next.append("drop")
    counts = send_now(make_campaign())
    assert counts["deferred"] == 1
    assert counts["sent"] == 2
    assert smtp_server.connections == 2
    error = db.session.scalar(select(Delivery.last_error).where(Delivery.status == "deferred"))
    assert error.startswith("connection")


def test_repeated_deferral_gives_up_as_failed(make_campaign, people, smtp_server):
    people(1)
    smtp_server.fail_next.extend(["451 4.3.0 later"] * sending.MAX_ATTEMPTS)
    campaign = make_campaign()
    moment = utcnow()
    with frozen(moment):
        send_now(campaign)
    for _ in range(sending.MAX_ATTEMPTS - 1):
        moment += timedelta(days=1)
        with frozen(moment):
            sending.send_pending("w")
    status = status_of(campaign)
    assert (status["failed"], status["status"]) == (1, CampaignStatus.SENT)
    assert smtp_server.messages == []


def test_send_rate_limits_messages_per_second(app, make_campaign, people, smtp_server):
    app.config["SEND_RATE"] = 40
    people(9)
    started = time.monotonic()
    send_now(make_campaign())
    assert time.monotonic() - started >= 8 / 40
    assert len(smtp_server.messages) == 9


def test_cancel_stops_queued_deliveries(make_campaign, people, smtp_server):
    people(3)
    campaign = make_campaign()
    campaigns.start_sending(campaign)
    campaigns.cancel_campaign(campaign)
    db.session.commit()
    assert sending.send_pending("w") == {"batches": 0}
    assert smtp_server.messages == []
    status = status_of(campaign)
    assert (status["status"], status["skipped"]) == (CampaignStatus.CANCELLED, 3)


def test_scheduled_campaign_starts_at_its_time_never_before(make_campaign, people, smtp_server):
    people(2)
    campaign = make_campaign()
    at = utcnow() + timedelta(hours=2)
    campaigns.schedule_campaign(campaign, at)
    db.session.commit()
    assert campaigns.start_due_scheduled(at - timedelta(seconds=1)) == 0
    assert campaigns.start_due_scheduled(at) == 1
    db.session.commit()
    sending.send_pending("w")
    assert len(smtp_server.messages) == 2


def test_schedule_in_the_past_is_refused(make_campaign):
    with pytest.raises(campaigns.CampaignError, match="in the past"):
        campaigns.schedule_campaign(make_campaign(), utcnow() - timedelta(minutes=1))


def test_a_sent_campaign_cannot_be_sent_or_edited_again(make_campaign, people, smtp_server):
    people(1)
    campaign = make_campaign()
    send_now(campaign)
    db.session.refresh(campaign)
    with pytest.raises(campaigns.CampaignError, match="is sent"):
        campaigns.start_sending(campaign)
    with pytest.raises(campaigns.CampaignError, match="is sent"):
        campaigns.update_campaign(campaign, "x", "y", campaign.topic)


def test_workers_never_claim_the_same_delivery_and_expired_leases_return(
    make_campaign, people, smtp_server
):
    people(5)
    campaign = make_campaign()
    campaigns.start_sending(campaign)
    db.session.commit()
    lease = timedelta(minutes=5)
    first = sending.claim_batch("a", 3, lease)
    second = sending.claim_batch("b", 3, lease)
    assert len(first) == 3
    assert len(second) == 2
    assert not set(first) & set(second)
    assert sending.claim_batch("c", 3, lease) == []
    with frozen(utcnow() + lease + timedelta(seconds=1)):
        assert sorted(sending.claim_batch("c", 10, lease)) == sorted(first + second)


def test_send_test_goes_out_after_commit_with_test_subject(make_campaign, smtp_server):
    campaign = make_campaign()
    campaigns.send_test(campaign, "Boss@Example.org")
    assert smtp_server.messages == []  # not before the commit
    db.session.commit()
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["boss@example.org"]
    assert received.message["Subject"] == "[TEST] Spring news"


def test_send_test_to_a_bad_address_is_a_clear_error(make_campaign):
    with pytest.raises(campaigns.CampaignError, match="Test address"):
        campaigns.send_test(make_campaign(), "not an address\r\nBcc: x@y")


def test_concurrent_workers_send_each_message_exactly_once(app, make_campaign, people, smtp_server):
    import threading
    from collections import Counter

    people(60)
    campaign = make_campaign()
    campaigns.start_sending(campaign)
    db.session.commit()
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            with app.app_context():
                sending.send_pending(name, batch_size=7)
                db.session.remove()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    per_address = Counter(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert len(per_address) == 60
    assert set(per_address.values()) == {1}
    assert status_of(campaign)["status"] == CampaignStatus.SENT


def test_a_slow_batch_keeps_its_lease(app, make_campaign, people, smtp_server):
    import time_machine

    app.config["SEND_LEASE_SECONDS"] = 60
    people(3)
    campaign = make_campaign()
    stolen: list[int] = []

    with time_machine.travel(utcnow(), tick=False) as traveller:

        def slow_server(received):
            traveller.shift(timedelta(seconds=40))  # each message takes 40 s
            if len(smtp_server.messages) == 2:  # past the first lease's end now
                with app.app_context():
                    stolen.extend(sending.claim_batch("thief", 10, timedelta(minutes=1)))

        smtp_server.handler.on_message = slow_server
        counts = send_now(campaign, batch_size=10)
    assert counts["sent"] == 3
    assert stolen == []  # the working worker's lease was renewed
    assert len(smtp_server.messages) == 3


def test_rule_4_check_refuses_a_later_message_that_lacks_a_link(
    make_campaign, people, smtp_server, monkeypatch
):
    """The whole-message parse runs once per prepared campaign; every message is still
    checked on its own texts, so one recipient's broken footer is caught."""
    people(4)
    fill = messages.PreparedCampaign.fill

    def fill_dropping_a_link(self, recipient):
        page, text, values, page_values = fill(self, recipient)
        if recipient.email == "p2@example.org":
            text = text.replace(values["unsubscribe_url"], "https://example.org/elsewhere")
        return page, text, values, page_values

    monkeypatch.setattr(messages.PreparedCampaign, "fill", fill_dropping_a_link)
    campaign = make_campaign()
    counts = send_now(campaign, batch_size=10)
    assert counts == {"batches": 1, "sent": 3, "failed": 1}
    assert received_by(smtp_server) == ["p0@example.org", "p1@example.org", "p3@example.org"]
    error = db.session.scalar(select(Delivery.last_error).where(Delivery.status == "failed"))
    assert error.startswith(
        f"refused: the text part lacks the unsubscribe-from-all link: {compliance._FOOTER}"
    )


def test_rule_4_check_parses_the_first_message_whole(
    make_campaign, people, smtp_server, monkeypatch
):
    """A MIME skeleton that does not carry the checked texts is caught by the whole parse."""
    people(2)
    compose = messages.PreparedCampaign.compose

    def compose_without_text_part(self, recipient, unique=None):
        built = compose(self, recipient, unique)
        head, _, body = built.raw.partition(b"\r\n\r\n")
        html_part = body[body.index(b"--" + self.boundary.encode(), 10) :]
        return messages.Composed(built.head, built.text, built.page, head + b"\r\n\r\n" + html_part)

    campaigns.start_sending(make_campaign())  # its own whole-message check passes
    db.session.commit()
    monkeypatch.setattr(messages.PreparedCampaign, "compose", compose_without_text_part)
    counts = sending.send_pending("test-worker", batch_size=10)
    assert counts == {"batches": 1, "failed": 2}
    assert received_by(smtp_server) == []
    errors = db.session.scalars(select(Delivery.last_error)).all()
    assert errors == [f"refused: the message has no text part: {compliance._CHANGED}"] * 2
