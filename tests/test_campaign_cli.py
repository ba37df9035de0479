"""`flask campaign ...` and the sending jobs, through the CLI runner (outbox mode)."""

from __future__ import annotations

import json
from datetime import timedelta

from newsletter.clock import utcnow
from newsletter.extensions import db
from newsletter.models import Campaign, CampaignStatus, OutboxMessage


def create(runner, tmp_path, body="# Hello\n\nNews.", topic="newsletter", subject="Spring"):
    body_file = tmp_path / "body.md"
    body_file.write_text(body, encoding="utf-8")
    return runner.invoke(
        args=["campaign", "create", "--subject", subject, "--body-file", str(body_file),
              "--topic", topic]
    )  # fmt: skip


def test_campaign_create_prints_the_id_of_a_draft(runner, tmp_path):
    result = create(runner, tmp_path)
    assert result.exit_code == 0, result.output
    campaign = db.session.get(Campaign, int(result.output.strip()))
    assert campaign.status == CampaignStatus.DRAFT
    assert campaign.subject == "Spring"


def test_campaign_create_with_unknown_topic_is_a_clear_error(runner, tmp_path):
    result = create(runner, tmp_path, topic="nope")
    assert result.exit_code != 0
    assert "no topic 'nope'" in result.output
    assert db.session.scalar(db.select(Campaign)) is None


def test_campaign_send_wait_sends_and_reports_json(runner, tmp_path, make_subscriber):
    make_subscriber("a@example.org")
    make_subscriber("b@example.org")
    campaign_id = create(runner, tmp_path).output.strip()
    result = runner.invoke(args=["campaign", "send", campaign_id, "--wait"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["status"] == "sent"
    assert (report["total"], report["sent"], report["failed"], report["deferred"]) == (2, 2, 0, 0)
    assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)) == 2


def test_campaign_send_without_wait_only_queues(runner, tmp_path, make_subscriber):
    make_subscriber("a@example.org")
    campaign_id = create(runner, tmp_path).output.strip()
    assert runner.invoke(args=["campaign", "send", campaign_id]).exit_code == 0
    status = json.loads(runner.invoke(args=["campaign", "status", campaign_id]).output)
    assert (status["status"], status["total"], status["queued"]) == ("sending", 1, 1)
    again = runner.invoke(args=["campaign", "send", campaign_id])
    assert again.exit_code != 0
    assert "cannot be sent" in again.output


def test_campaign_status_of_a_missing_campaign_is_a_clear_error(runner):
    result = runner.invoke(args=["campaign", "status", "999"])
    assert result.exit_code != 0
    assert "no campaign 999" in result.output


def test_campaign_schedule_then_jobs_start_and_send_it_at_its_time(
    runner, tmp_path, make_subscriber
):
    make_subscriber("a@example.org")
    campaign_id = create(runner, tmp_path).output.strip()
    at = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    result = runner.invoke(args=["campaign", "schedule", campaign_id, "--at", at.isoformat()])
    assert result.exit_code == 0, result.output
    early = (at - timedelta(minutes=1)).isoformat()
    report = json.loads(runner.invoke(args=["jobs", "run-due", "--as-of", early]).output)
    assert report["start-scheduled-campaigns"] == 0
    report = json.loads(runner.invoke(args=["jobs", "run-due", "--as-of", at.isoformat()]).output)
    assert report["start-scheduled-campaigns"] == 1
    assert report["sending"]["sent"] == 1  # SPEC: run-due sends what is due, in the foreground
    status = json.loads(runner.invoke(args=["campaign", "status", campaign_id]).output)
    assert (status["status"], status["total"], status["sent"]) == ("sent", 1, 1)


def test_campaign_schedule_rejects_a_bad_date(runner, tmp_path):
    campaign_id = create(runner, tmp_path).output.strip()
    result = runner.invoke(args=["campaign", "schedule", campaign_id, "--at", "next tuesday"])
    assert result.exit_code != 0
    assert "not an ISO date" in result.output
    past = runner.invoke(args=["campaign", "schedule", campaign_id, "--at", "2001-01-01T00:00"])
    assert "in the past" in past.output
    assert db.session.get(Campaign, int(campaign_id)).status == CampaignStatus.DRAFT
