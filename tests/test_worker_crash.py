"""`flask worker` as a real process: kill -9 mid-send, restart, nobody missed.

Runs on the SQLite file of the test and on PostgreSQL (NEWSLETTER_TEST_DATABASE_URL).
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench import faults
from bench.faults import wait_for
from newsletter import campaigns
from newsletter.extensions import db
from newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus

ROOT = Path(__file__).resolve().parent.parent
RECIPIENTS = 40
BATCH = 5


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, **smtp_server.config()}


@pytest.fixture
def queued_campaign(make_campaign, make_subscriber):
    for i in range(RECIPIENTS):
        make_subscriber(f"k{i:02}@example.org")
    campaign = make_campaign(subject="Crash test", body="Hello.")
    campaigns.start_sending(campaign)
    db.session.commit()
    return campaign


def start_worker(app_config, smtp_server, tmp_path, rate: int) -> subprocess.Popen:
    return faults.start_worker(app_config, smtp_server, tmp_path, rate, batch_size=BATCH)


def campaign_state(campaign_id: int) -> str:
    db.session.expire_all()
    state = db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    db.session.commit()  # end the read, so the next poll sees the worker's commits
    return state


def test_worker_killed_mid_send_then_restarted_misses_nobody(
    app_config, smtp_server, tmp_path, queued_campaign
):
    first = start_worker(app_config, smtp_server, tmp_path, rate=40)
    try:
        wait_for(lambda: len(smtp_server.messages) >= 12)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    sent_before_restart = len(smtp_server.messages)
    assert sent_before_restart < RECIPIENTS  # killed in the middle of the send

    second = start_worker(app_config, smtp_server, tmp_path, rate=0)
    try:
        wait_for(lambda: campaign_state(queued_campaign.id) == CampaignStatus.SENT)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0
    per_address = Counter(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert sorted(per_address) == [f"k{i:02}@example.org" for i in range(RECIPIENTS)]
    duplicates = sum(count - 1 for count in per_address.values())
    assert duplicates <= BATCH  # at most the batch that was in flight


def test_worker_stops_cleanly_on_sigterm_and_returns_its_claims(
    app_config, smtp_server, tmp_path, queued_campaign
):
    worker = start_worker(app_config, smtp_server, tmp_path, rate=20)
    wait_for(lambda: len(smtp_server.messages) >= 3)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    db.session.expire_all()
    counts = dict(
        db.session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    )
    db.session.commit()
    assert DeliveryStatus.SENDING not in counts  # nothing left claimed by a dead worker
    assert counts[DeliveryStatus.SENT] == len(smtp_server.messages)
    assert counts[DeliveryStatus.QUEUED] == RECIPIENTS - len(smtp_server.messages)
