"""Cron-only hosting: `flask jobs run-due` sends what is due, in the foreground, and exits.

SPEC: "run every due job once and exit, including the sending that is due (scheduled
campaigns, deferred retries: sent in the foreground)". Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter import campaigns, jobs, sending
from newsletter.clock import utcnow
from newsletter.extensions import db
from newsletter.models import Campaign, Delivery, DeliveryStatus


def run_due(runner, at=None) -> dict:
    args = ["jobs", "run-due"] + (["--as-of", at.isoformat()] if at else [])
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])  # stdout: the logs go to stderr


def status(runner, campaign_id: int) -> dict:
    return json.loads(runner.invoke(args=["campaign", "status", str(campaign_id)]).output)


def test_run_due_starts_and_sends_a_scheduled_campaign(
    runner, make_subscriber, make_campaign, outbox
):
    make_subscriber("ann@example.org")
    make_subscriber("bob@example.org")
    campaign = make_campaign(subject="Tuesday news")
    at = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    campaigns.schedule_campaign(campaign, at)
    db.session.commit()

    early = run_due(runner, at - timedelta(minutes=1))
    assert early["start-scheduled-campaigns"] == 0
    assert early["sending"] == {"sent": 0, "deferred": 0, "failed": 0, "skipped": 0}
    assert outbox() == []

    report = run_due(runner, at)
    assert report["start-scheduled-campaigns"] == 1
    assert report["sending"]["sent"] == 2
    assert sorted(str(m["To"]) for m in outbox()) == ["ann@example.org", "bob@example.org"]
    assert {m["Subject"] for m in outbox()} == {"Tuesday news"}
    assert status(runner, campaign.id)["status"] == "sent"  # done before the command exits

    again = run_due(runner, at + timedelta(minutes=1))
    assert again["sending"]["sent"] == 0  # nobody gets it twice
    assert len(outbox()) == 2


def test_run_due_sends_a_campaign_queued_from_the_admin(
    runner, make_subscriber, make_campaign, outbox
):
    """The admin's "Send" only queues; on a cron-only host the next run-due sends it."""
    make_subscriber("ann@example.org")
    campaign = make_campaign(subject="Sent from the admin")
    campaigns.start_sending(campaign)
    db.session.commit()
    assert run_due(runner)["sending"]["sent"] == 1
    assert [str(m["To"]) for m in outbox()] == ["ann@example.org"]


class TestDeferredRetries:
    """A message the SMTP server put off (451) is retried by run-due once its time comes."""

    @pytest.fixture
    def app_config(self, app_config, smtp_server):
        return {**app_config, **smtp_server.config()}

    def test_run_due_retries_a_deferred_delivery_when_its_time_has_come(
        self, runner, make_subscriber, make_campaign, smtp_server
    ):
        make_subscriber("ann@example.org")
        campaign = make_campaign(subject="Retry me")
        assert runner.invoke(args=["campaign", "send", str(campaign.id)]).exit_code == 0
        smtp_server.fail_next.append("451 4.3.0 try again later")
        start = utcnow()

        first = run_due(runner, start)
        assert first["sending"]["deferred"] == 1
        assert smtp_server.messages == []
        delivery = db.session.scalar(select(Delivery))
        assert delivery.status == DeliveryStatus.DEFERRED
        assert delivery.next_attempt_at == start + sending.RETRY_BASE

        too_soon = run_due(runner, start + sending.RETRY_BASE - timedelta(minutes=1))
        assert too_soon["sending"]["sent"] == 0
        assert smtp_server.messages == []

        due = run_due(runner, start + sending.RETRY_BASE + timedelta(minutes=1))
        assert due["sending"]["sent"] == 1
        assert [m.rcpt_tos for m in smtp_server.messages] == [["ann@example.org"]]
        assert smtp_server.messages[0].message["Subject"] == "Retry me"
        db.session.expire_all()
        assert db.session.get(Delivery, delivery.id).status == DeliveryStatus.SENT
        assert status(runner, campaign.id)["status"] == "sent"


@pytest.fixture
def failing_job(app):
    """A registered job that always fails (a mailbox that is down, a bug)."""

    def fail(now):
        raise RuntimeError("the mailbox is down")

    jobs.JOBS["always-fails"] = jobs.Job("always-fails", timedelta(minutes=5), fail)
    yield
    del jobs.JOBS["always-fails"]


def test_a_failing_job_does_not_stop_the_other_jobs_or_the_sending(
    runner, failing_job, make_subscriber, make_campaign, outbox
):
    make_subscriber("ann@example.org")
    campaign = make_campaign(subject="Still sent")
    campaigns.start_sending(campaign)
    db.session.commit()
    result = runner.invoke(args=["jobs", "run-due"])
    assert result.exit_code == 1, result.output  # cron mails the operator about it
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failed"] == {"always-fails": "RuntimeError: the mailbox is down"}
    assert report["purge-unconfirmed"] == 0
    assert report["sending"]["sent"] == 1
    assert [str(m["To"]) for m in outbox()] == ["ann@example.org"]
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == "sent"
