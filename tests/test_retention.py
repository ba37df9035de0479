"""Retention (SPEC rule 7): each kind of personal data goes when its period ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter import clock, subscriptions
from newsletter.extensions import db
from newsletter.models import (
    AuditEntry,
    Campaign,
    CampaignStatus,
    Channel,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    RightsRequest,
    Subscriber,
    Suppression,
)
from tests.helpers import confirm_path, signup
from tests.timetravel import rows_mentioning, run_job, sqlite_files_mentioning

DAY = timedelta(days=1)


@pytest.fixture
def start(app):
    return clock.utcnow().replace(microsecond=0)


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def make_campaign(status: str, finished_at, deliveries: list[str], subscriber=None) -> Campaign:
    campaign = Campaign(
        subject="News",
        body_markdown="Hello",
        topic_id=1,
        status=status,
        started_at=finished_at,
        finished_at=finished_at if status == CampaignStatus.SENT else None,
        stats={"opened": "never tracked"},
    )
    db.session.add(campaign)
    db.session.flush()
    for status_ in deliveries:
        db.session.add(
            Delivery(
                campaign_id=campaign.id,
                subscriber_id=subscriber.id if subscriber else None,
                status=status_,
                last_error="550 5.1.1 no such user" if status_ == DeliveryStatus.FAILED else None,
            )
        )
        subscriber = None  # the unique constraint allows one row per subscriber
    db.session.commit()
    return campaign


def test_delivery_records_become_counts(make_subscriber, start):
    ann = make_subscriber()
    statuses = [DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.FAILED, "skipped"]
    done = make_campaign(CampaignStatus.SENT, start, statuses, subscriber=ann)
    running = make_campaign(CampaignStatus.SENDING, start, [DeliveryStatus.QUEUED])

    assert run_job("retention-deliveries", start + 89 * DAY) == 0
    assert count(Delivery) == 5

    assert run_job("retention-deliveries", start + 91 * DAY) == 4
    db.session.expire_all()
    stats = db.session.get(Campaign, done.id).stats
    assert stats["total"] == 4
    assert stats["counts"]["sent"] == 2
    assert stats["counts"]["failed"] == 1
    assert stats["counts"]["skipped"] == 1
    assert stats["counts"]["deferred"] == 0
    assert stats["opened"] == "never tracked"  # earlier stats are kept
    assert db.session.scalar(select(Delivery)).campaign_id == running.id  # still sending

    assert run_job("retention-deliveries", start + 200 * DAY) == 0  # idempotent
    assert db.session.get(Campaign, done.id).stats == stats


def test_delivery_period_follows_configuration(app, start):
    app.config["DELIVERY_RETENTION_DAYS"] = 7
    make_campaign(CampaignStatus.CANCELLED, start, [DeliveryStatus.QUEUED])
    assert run_job("retention-deliveries", start + 6 * DAY) == 0
    assert run_job("retention-deliveries", start + 8 * DAY) == 1


def test_audit_log_is_purged(app, start):
    db.session.add_all(
        [
            AuditEntry(occurred_at=start, actor="admin@shop.example", action="export"),
            AuditEntry(occurred_at=start + 200 * DAY, actor="admin@shop.example", action="erase"),
        ]
    )
    db.session.commit()
    assert run_job("retention-audit-log", start + 365 * DAY) == 0
    assert run_job("retention-audit-log", start + 366 * DAY) == 1
    assert db.session.scalar(select(AuditEntry.action)) == "erase"
    app.config["AUDIT_RETENTION_DAYS"] = 30
    assert run_job("retention-audit-log", start + 366 * DAY) == 1
    assert count(AuditEntry) == 0


def test_outbox_is_purged_from_tables_and_file(app, client, outbox, start):
    signup(client, email="dora@example.org")
    assert len(outbox()) == 1
    assert run_job("retention-outbox", start + 29 * DAY) == 0
    db.session.execute(db.delete(Subscriber))  # leave only the outbox holding the address
    db.session.execute(db.delete(ConsentEvent))
    db.session.commit()
    assert run_job("retention-outbox", start + 31 * DAY) == 1
    assert outbox() == []
    assert rows_mentioning("dora@example.org") == []
    assert sqlite_files_mentioning(app, "dora@example.org") == []


def test_rights_request_log_is_purged(start):
    db.session.add(
        RightsRequest(kind="export", channel="web", subject_hash="h" * 64, requested_at=start)
    )
    db.session.commit()
    assert run_job("retention-rights-requests", start + 1825 * DAY) == 0
    assert run_job("retention-rights-requests", start + 1827 * DAY) == 1
    assert count(RightsRequest) == 0


def test_consent_evidence_kept_while_needed_then_purged(make_subscriber, client, outbox, start):
    # Erin signs up, confirms, and later unsubscribes: her evidence is kept, by hash.
    signup(client, email="erin@example.org")
    client.post(confirm_path(outbox()[0]))
    erin = subscriptions.find_subscriber("erin@example.org")
    subscriptions.erase(erin, "unsubscribed", Channel.ALL, subscriptions.Evidence("test"))
    db.session.commit()
    # Fred stays subscribed with old evidence.
    fred = make_subscriber("fred@example.org", evidence=False)  # evidence written below
    subscriptions.record_event(fred, "confirm", subscriptions.Evidence("test"))
    db.session.commit()
    assert count(ConsentEvent) == 4

    assert run_job("retention-consent-evidence", start + 1825 * DAY) == 0
    assert run_job("retention-consent-evidence", start + 1827 * DAY) == 3  # signup, confirm, erase
    remaining = db.session.scalars(select(ConsentEvent)).all()
    assert [(e.kind, e.subscriber_id) for e in remaining] == [("confirm", fred.id)]
    # The suppression entry stays: Erin must never be re-added by an import.
    assert count(Suppression) == len(Channel.ALL)


def test_evidence_of_a_returning_subscriber_is_kept(make_subscriber, start):
    gina = make_subscriber("gina@example.org", evidence=False)  # evidence written below
    subscriptions.record_event(gina, "confirm", subscriptions.Evidence("first time"))
    subscriptions.erase(gina, "unsubscribed", Channel.ALL, subscriptions.Evidence("test"))
    db.session.commit()
    back = make_subscriber("gina@example.org", evidence=False)
    subscriptions.record_event(back, "confirm", subscriptions.Evidence("came back"))
    db.session.commit()
    assert run_job("retention-consent-evidence", start + 3000 * DAY) == 0
    assert count(ConsentEvent) == 3


def test_unconfirmed_signups_are_purged(client, outbox, start):
    signup(client, email="hank@example.org")
    assert run_job("purge-unconfirmed", start + timedelta(hours=47)) == 0
    assert run_job("purge-unconfirmed", start + timedelta(hours=49)) == 1
    assert rows_mentioning("hank@example.org") == []


def test_campaign_status_survives_the_purge(start):
    """`flask campaign status` reports the same counts before and after the purge."""
    campaigns = pytest.importorskip("newsletter.campaigns")  # the sending engine's module
    statuses = [DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.FAILED]
    campaign = make_campaign(CampaignStatus.SENT, start, statuses)
    before = campaigns.campaign_status(campaign)
    run_job("retention-deliveries", start + 100 * DAY)
    db.session.expire_all()
    after = campaigns.campaign_status(db.session.get(Campaign, campaign.id))
    assert count(Delivery) == 0
    for key in ("total", "sent", "failed", "deferred", "skipped", "queued"):
        assert after[key] == before[key], key
