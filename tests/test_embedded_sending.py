"""README's run command alone delivers: the embedded worker of `flask run`.

Each test runs the real `flask run` (FLASK_APP=app.py from the repository root) on a
fresh instance folder (NEWSLETTER_INSTANCE_PATH) with the default configuration: SQLite
in the instance folder, no MAIL_SERVER (the built-in outbox), CSRF on, a loopback http
BASE_URL (only its port differs from the default, so parallel runs never meet), and no
`flask worker`. The test process reads and writes the same database through the app's
own domain functions, as the admin's "Send" button does (the browser journey itself is
tests/e2e's).

The test beside a `flask worker` also runs on PostgreSQL (NEWSLETTER_TEST_DATABASE_URL).
"""

from __future__ import annotations

import re
import signal
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from newsletter import campaigns, clock, create_app, subscriptions
from newsletter.clock import utcnow
from newsletter.extensions import db
from newsletter.models import (
    Basis,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    OutboxMessage,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)
from tests.flask_process import ROOT, clean_env, flask, stop, wait_for, wait_until_serving
from tests.helpers import PG_URL, free_port, private_postgres_database

STARTED = "Sending and periodic jobs run inside this process"
STOPPED = "Embedded worker stopped"
MINUTE = 60.0


class Site:
    """One installation: its instance folder, its port, its environment and its app."""

    def __init__(self, tmp_path: Path, monkeypatch, database_url: str | None = None):
        self.instance = tmp_path / "instance"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.logs = tmp_path
        settings = {"NEWSLETTER_INSTANCE_PATH": str(self.instance)}
        settings["NEWSLETTER_BASE_URL"] = self.base_url
        if database_url:
            settings["NEWSLETTER_SQLALCHEMY_DATABASE_URI"] = database_url
        self.env = clean_env(**settings)
        # The test process sees the same configuration as the server (and the same
        # generated secret key in the instance folder).
        for key in [k for k in self.env if k.startswith("NEWSLETTER_")]:
            monkeypatch.setenv(key, self.env[key])
        self.app = create_app()  # a new SQLite file is created by the migrations here
        self.context = self.app.app_context()
        self.context.push()
        if database_url:
            upgrade(directory=str(ROOT / "migrations"))

    def close(self) -> None:
        db.session.remove()
        db.engine.dispose()
        self.context.pop()

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def run(self, *args: str, env: dict | None = None):
        """`flask run` on this site's port (extra args after it), logged to run.log."""
        return flask(
            ["run", "--port", str(self.port), *args], {**self.env, **(env or {})}, self.log("run")
        )

    def serving(self, process) -> None:
        wait_until_serving(f"{self.base_url}/subscribe", process, self.log("run"))

    # --- the data, written as the admin's pages write it ---

    def subscribers(self, count: int, prefix: str) -> list[str]:
        topic = db.session.scalar(select(Topic).where(Topic.slug == "newsletter"))
        now = utcnow()
        addresses = [f"{prefix}{i:02}@example.org" for i in range(count)]
        for address in addresses:
            person = Subscriber(
                email=address, status=SubscriberStatus.ACTIVE, confirmed_at=now, consented_at=now
            )
            person.subscriptions.append(
                Subscription(topic=topic, basis=Basis.CONSENT, confirmed_at=now)
            )
            db.session.add(person)
        db.session.commit()
        return addresses

    def campaign(self, subject: str) -> Campaign:
        topic = db.session.scalar(select(Topic).where(Topic.slug == "newsletter"))
        row = campaigns.create_campaign(subject, "Hello **there**.", topic, created_by="test")
        db.session.commit()
        return row

    def send(self, subject: str) -> int:
        """Compose and press "Send": the deliveries are queued for whoever sends."""
        row = self.campaign(subject)
        campaigns.start_sending(row)
        db.session.commit()
        return row.id

    # --- what a person checks ---

    def outbox(self, subject: str | None = None) -> list[str]:
        """The recipients of the outbox's messages (with this subject)."""
        db.session.commit()  # a new read: see what the server committed since
        query = select(OutboxMessage.recipient).order_by(OutboxMessage.id)
        if subject is not None:
            query = query.where(OutboxMessage.subject == subject)
        return list(db.session.scalars(query))

    def status(self, campaign_id: int) -> str:
        db.session.commit()
        return db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))

    def deliveries(self) -> dict[str, int]:
        db.session.commit()
        query = select(Delivery.status, func.count()).group_by(Delivery.status)
        return dict(db.session.execute(query).all())


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A fresh installation on the default database (SQLite in the instance folder)."""
    installation = Site(tmp_path, monkeypatch)
    yield installation
    installation.close()


def sent_in(log: Path) -> int:
    """How many messages a process reports it sent (`sending.run_worker`'s log lines)."""
    return sum(int(n) for n in re.findall(r"worker \S+: \{[^}]*'sent': (\d+)", log.read_text()))


def test_flask_run_alone_delivers_a_sent_campaign_to_the_outbox_within_a_minute(site):
    people = site.subscribers(3, "reader")
    with site.run() as server:
        site.serving(server)
        campaign_id = site.send("Spring news")
        wait_for(
            lambda: site.status(campaign_id) == CampaignStatus.SENT,
            MINUTE,
            "the campaign to be sent by `flask run` alone",
            site.log("run"),
        )
        assert sorted(site.outbox("Spring news")) == people
        raw = db.session.scalars(select(OutboxMessage.raw)).first()
        assert f"<{site.base_url}/unsubscribe/".encode() in raw  # links to this trial site
        assert stop(server) == 0  # SIGTERM: a clean exit
    log = site.log("run").read_text()
    assert log.count(STARTED) == 1
    assert STOPPED in log


def test_flask_run_runs_the_periodic_jobs(site):
    """Purge of an expired signup, a re-consent request, an overdue scheduled campaign."""
    now = utcnow()
    with clock.frozen(now - timedelta(hours=49)):  # signed up 49 h ago, never confirmed
        subscriptions.request_signup(
            "late@example.org", ["newsletter"], True, 1, subscriptions.Evidence("form")
        )
        db.session.commit()
    (reader,) = site.subscribers(1, "reader")
    old = db.session.scalar(select(Subscriber).where(Subscriber.email == reader))
    old.consented_at = now - timedelta(days=731)  # consent older than two years
    with clock.frozen(now - timedelta(hours=1)):  # scheduled an hour ago for 30 min ago
        overdue = site.campaign("Overdue news")
        campaigns.schedule_campaign(overdue, now - timedelta(minutes=30))
    db.session.commit()

    with site.run() as server:
        site.serving(server)
        wait_for(
            lambda: "late@example.org" not in site.outbox() and site.status(overdue.id) == "sent",
            MINUTE,
            "the purge and the scheduled campaign",
            site.log("run"),
        )
        wait_for(lambda: len(site.outbox()) == 2, MINUTE, "the re-consent request")
    late = select(Subscriber).where(Subscriber.email == "late@example.org")
    assert db.session.scalar(late) is None
    assert site.outbox("Overdue news") == [reader]
    assert site.outbox() == [reader, reader]  # the campaign and the re-consent request
    db.session.expire_all()
    assert db.session.get(Subscriber, old.id).reconsent_requested_at is not None


def test_flask_run_with_the_reloader_sends_exactly_once(site, tmp_path):
    """`flask run --debug`: Werkzeug's parent watches, its child serves; only the child
    sends. After a reload the new child takes over, and nobody gets a message twice."""
    trigger = tmp_path / "reload-me.txt"
    trigger.write_text("0")
    people = site.subscribers(20, "reader")
    with site.run("--debug", "--extra-files", str(trigger)) as server:
        site.serving(server)
        first = site.send("Before the reload")
        wait_for(lambda: site.status(first) == "sent", MINUTE, "campaign 1", site.log("run"))
        trigger.write_text("1")  # a code change: the reloader starts a new child
        wait_for(
            lambda: site.log("run").read_text().count(STARTED) == 2,
            MINUTE,
            "the reloaded child's embedded worker",
            site.log("run"),
        )
        site.serving(server)
        second = site.send("After the reload")
        wait_for(lambda: site.status(second) == "sent", MINUTE, "the second campaign")
    log = site.log("run").read_text()
    assert log.count(STARTED) == 2  # one per serving child, never in the watching parent
    assert log.index(STOPPED) < log.rindex(STARTED)  # the old child stopped before
    for subject in ("Before the reload", "After the reload"):
        assert sorted(site.outbox(subject)) == people  # each person exactly once


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_site(request, tmp_path, monkeypatch):
    """A fresh installation on SQLite (default) or on a private PostgreSQL database."""
    if request.param == "sqlite":
        installation = Site(tmp_path, monkeypatch)
        yield installation
        installation.close()
        return
    if not PG_URL:
        pytest.skip("PostgreSQL: set NEWSLETTER_TEST_DATABASE_URL")
    with private_postgres_database("nl_embedded") as url:
        installation = Site(tmp_path, monkeypatch, database_url=url)
        yield installation
        installation.close()


def test_flask_run_beside_a_flask_worker_sends_each_message_once(shared_site, tmp_path):
    site = shared_site
    people = site.subscribers(40, "reader")
    # Small batches at 10 messages a second each, so that both processes take part
    # (with the defaults the first to poll would send all 40 in one batch).
    pace = {"NEWSLETTER_SEND_RATE": "10", "NEWSLETTER_SEND_BATCH_SIZE": "5"}
    worker_log = site.log("worker")
    with (
        site.run(env=pace) as server,
        flask(["worker"], {**site.env, **pace}, worker_log) as worker,
    ):
        site.serving(server)
        wait_for(lambda: "worker started" in worker_log.read_text(), MINUTE, "flask worker")
        campaign_id = site.send("Shared news")
        wait_for(
            lambda: site.status(campaign_id) == "sent", MINUTE, "the campaign", site.log("run")
        )
        assert stop(server, signal.SIGTERM) == 0
        assert stop(worker, signal.SIGTERM) == 0
    per_person = Counter(site.outbox("Shared news"))
    assert sorted(per_person) == people
    assert set(per_person.values()) == {1}  # nobody got it twice
    by_server, by_worker = sent_in(site.log("run")), sent_in(worker_log)
    assert by_server + by_worker == len(people)
    assert by_server > 0  # both sent part of it
    assert by_worker > 0
    assert site.deliveries() == {DeliveryStatus.SENT: len(people)}  # nothing left claimed


def test_the_embedded_worker_can_be_switched_off(site):
    """NEWSLETTER_EMBEDDED_WORKER=false: `flask run` serves, and leaves sending to
    `flask worker` (it says so at start)."""
    site.subscribers(1, "reader")
    with site.run(env={"NEWSLETTER_EMBEDDED_WORKER": "false"}) as server:
        site.serving(server)
        campaign_id = site.send("Left to the workers")
        hint = "run `flask worker` to send mail"
        wait_for(lambda: hint in site.log("run").read_text(), 10, "the hint")
        with pytest.raises(AssertionError, match="timed out"):
            wait_for(lambda: site.outbox() != [], 3, "no mail")
        assert site.status(campaign_id) == CampaignStatus.SENDING
    assert STARTED not in site.log("run").read_text()
