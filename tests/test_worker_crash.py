"""`flask worker` as a real process: kill -9 mid-send, restart, nobody missed.

Runs on the SQLite file of the test and on PostgreSQL (NEWSLETTER_TEST_DATABASE_URL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter import campaigns
from newsletter.extensions import db
from newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Topic

ROOT = Path(__file__).resolve().parent.parent
RECIPIENTS = 40
BATCH = 5


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, **smtp_server.config()}


@pytest.fixture
def queued_campaign(app, make_subscriber):
    for i in range(RECIPIENTS):
        make_subscriber(f"k{i:02}@example.org")
    topic = db.session.scalar(select(Topic).where(Topic.slug == "newsletter"))
    campaign = campaigns.create_campaign("Crash test", "Hello.", topic)
    campaigns.start_sending(campaign)
    db.session.commit()
    return campaign


def start_worker(app_config, smtp_server, tmp_path, rate: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "FLASK_APP": "app",
        "NEWSLETTER_SQLALCHEMY_DATABASE_URI": app_config["SQLALCHEMY_DATABASE_URI"],
        "NEWSLETTER_AUTO_UPGRADE_SQLITE": "false",
        "NEWSLETTER_SECRET_KEY": app_config["SECRET_KEY"],
        "NEWSLETTER_BASE_URL": app_config["BASE_URL"],
        "NEWSLETTER_MAIL_DEFAULT_SENDER": app_config["MAIL_DEFAULT_SENDER"],
        "NEWSLETTER_MAIL_SERVER": smtp_server.host,
        "NEWSLETTER_MAIL_PORT": str(smtp_server.port),
        "NEWSLETTER_SEND_RATE": str(rate),
        "NEWSLETTER_SEND_BATCH_SIZE": str(BATCH),
        "NEWSLETTER_SEND_LEASE_SECONDS": "1",
    }
    with (tmp_path / f"worker-{time.monotonic_ns()}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "worker"], cwd=ROOT, env=env, stdout=log, stderr=log
        )


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


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
