"""Fault injection: a campaign against a real SMTP server on loopback that misbehaves.

    python -m bench.faults [--recipients 200] [--database-url postgresql://...]

Each scenario sends one campaign on a fresh database (a SQLite file, or a new
PostgreSQL database next to the one given), injects one kind of fault, lets the
retries run (the clock is moved forward past every back-off and lease), meanwhile asks
the web app for pages and posts, and prints per scenario: messages lost, duplicates
(one person receiving one campaign twice), messages refused by the server (recorded
as failed: the sender knows), and HTTP 500 responses. tests/test_faults.py runs the
same scenarios with fewer recipients and asserts the figures.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from newsletter import campaigns, sending
from newsletter.clock import frozen, utcnow
from newsletter.extensions import db
from newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Subscriber, Topic
from newsletter.models import Subscription as SubscriptionRow

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figures:
    scenario: str
    recipients: int
    delivered: int
    lost: int
    duplicates: int
    refused: int
    http_500: int
    db_errors: int  # database errors the sender met (and survived)
    seconds: float


# --- set-up ------------------------------------------------------------------------------


def add_recipients(count: int) -> list[str]:
    """`count` active, consenting newsletter subscribers; returns their addresses."""
    topic = db.session.scalar(select(Topic).where(Topic.slug == "newsletter"))
    now = utcnow()
    addresses = [f"r{number:05}@example.org" for number in range(count)]
    for address in addresses:
        person = Subscriber(email=address, status="active", confirmed_at=now, consented_at=now)
        person.subscriptions.append(SubscriptionRow(topic=topic, confirmed_at=now))
        db.session.add(person)
    db.session.commit()
    return addresses


def start_campaign() -> int:
    topic = db.session.scalar(select(Topic).where(Topic.slug == "newsletter"))
    campaign = campaigns.create_campaign("Fault test", "Hello **there**.", topic)
    campaigns.start_sending(campaign)
    db.session.commit()
    return campaign.id


def campaign_done(campaign_id: int) -> bool:
    db.session.expire_all()
    done = db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    db.session.commit()
    return done == CampaignStatus.SENT


def drain(campaign_id: int, rounds: int = 12) -> int:
    """Send, then retry as the jobs would, moving the clock past back-offs and leases.

    Returns how many times sending stopped on a database error (as `flask worker` would
    log it and go on).
    """
    start, errors = utcnow(), 0
    for number in range(rounds):
        with frozen(start + timedelta(hours=3 * number)):
            try:
                sending.send_pending(f"bench-{number}")
            except OperationalError:
                db.session.rollback()
                errors += 1
        if campaign_done(campaign_id):
            break
    return errors


def probe_web(app) -> int:
    """Pages and posts a visitor or a program makes; returns how many answered 5xx."""
    client = app.test_client()
    answers = [
        client.get("/subscribe"),
        client.get("/privacy"),
        client.post("/subscribe", data={"email": f"v{uuid.uuid4().hex[:8]}@example.org"}),
        client.get("/unsubscribe/not-a-token"),
        client.post("/unsubscribe/not-a-token", data={"List-Unsubscribe": "One-Click"}),
        client.post("/inbound/bounces", data=b"not a report"),
    ]
    return sum(1 for answer in answers if answer.status_code >= 500)


def figures(
    name: str, addresses: list[str], sink, campaign_id: int, errors: tuple[int, int], began
) -> Figures:
    """Count what reached the server against what the database says."""
    per_address = Counter(rcpt for message in sink.messages for rcpt in message.rcpt_tos)
    db.session.expire_all()
    refused = db.session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status == DeliveryStatus.FAILED,
            Delivery.last_error.like("5%"),
        )
    )
    db.session.commit()
    delivered = sum(1 for address in addresses if per_address[address])
    return Figures(
        scenario=name,
        recipients=len(addresses),
        delivered=delivered,
        lost=len(addresses) - delivered - refused,
        duplicates=sum(count - 1 for count in per_address.values() if count > 1),
        refused=refused,
        http_500=errors[0],
        db_errors=errors[1],
        seconds=round(time.monotonic() - began, 2),
    )


# --- scenarios ---------------------------------------------------------------------------


def _replies(*replies: str) -> Callable:
    def inject(app, sink, addresses):
        sink.fail_next.extend(replies)

    return inject


def _database_outage(app, sink, addresses):
    """After the 3rd message the database drops every connection (PostgreSQL) or is
    locked by another process for 2 s (SQLite); the web app is asked meanwhile."""
    state = {"seen": 0, "errors": 0}
    url = app.config["SQLALCHEMY_DATABASE_URI"]

    def outage(received):
        state["seen"] += 1
        if state["seen"] != 3:
            return
        if url.startswith("postgresql"):
            terminate_connections(url)
        else:
            lock_sqlite(url, seconds=2.0)
        with app.app_context():
            state["errors"] += probe_web(app)

    sink.handler.on_message = outage
    return state


def terminate_connections(url: str) -> None:
    """pg_terminate_backend on every other connection to this database."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    engine.dispose()


def lock_sqlite(url: str, seconds: float) -> None:
    """Another process's write lock on the SQLite file for `seconds` (in a thread)."""
    import sqlite3

    path = make_url(url).database
    ready = threading.Event()

    def hold():
        connection = sqlite3.connect(path, timeout=30)
        connection.execute("BEGIN EXCLUSIVE")
        ready.set()
        time.sleep(seconds)
        connection.rollback()
        connection.close()

    threading.Thread(target=hold, daemon=True).start()
    ready.wait(5)


SCENARIOS: dict[str, Callable] = {
    "421 service closing (x3)": _replies("421 4.3.2 shutting down", "421 4.3.2 x", "421 4.3.2 x"),
    "451 try later (x3)": _replies("451 4.3.0 try later", "451 4.3.0 x", "451 4.3.0 x"),
    "550 no such user (x2)": _replies("550 5.1.1 no such user", "550 5.1.1 no such user"),
    "drop mid-DATA (x2)": _replies("drop", "drop"),
    "hang past MAIL_TIMEOUT (x1)": _replies("hang"),
    "drop after the server took it (x1)": _replies("accept-drop"),
    "database unavailable mid-send": _database_outage,
}


def run_scenario(app, sink, name: str, recipients: int) -> Figures:
    """Run one in-process scenario on the app's (fresh) database."""
    began = time.monotonic()
    addresses = add_recipients(recipients)
    campaign_id = start_campaign()
    state = SCENARIOS[name](app, sink, addresses) or {}
    errors = probe_web(app)
    db_errors = drain(campaign_id)
    errors += probe_web(app) + state.get("errors", 0)
    return figures(name, addresses, sink, campaign_id, (errors, db_errors), began)


def run_kill9(app, sink, recipients: int, log_dir: Path) -> Figures:
    """`flask worker` killed with SIGKILL mid-send, a second worker finishes the job."""
    began = time.monotonic()
    addresses = add_recipients(recipients)
    campaign_id = start_campaign()
    first = start_worker(app.config, sink, log_dir, rate=max(recipients, 20))
    try:
        wait_for(lambda: len(sink.messages) >= recipients // 3)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    second = start_worker(app.config, sink, log_dir, rate=0)
    try:
        wait_for(lambda: campaign_done(campaign_id), timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(10)
    return figures("kill -9 of a worker mid-send", addresses, sink, campaign_id, (0, 0), began)


def start_worker(config, sink, log_dir: Path, rate: int, batch_size: int = 5) -> subprocess.Popen:
    """`flask worker` in a subprocess, on `config`'s database, sending to `sink`."""
    env = {
        **os.environ,
        "FLASK_APP": "app",
        "NEWSLETTER_SQLALCHEMY_DATABASE_URI": config["SQLALCHEMY_DATABASE_URI"],
        "NEWSLETTER_AUTO_UPGRADE_SQLITE": "false",
        "NEWSLETTER_SECRET_KEY": config["SECRET_KEY"],
        "NEWSLETTER_BASE_URL": config["BASE_URL"],
        "NEWSLETTER_MAIL_DEFAULT_SENDER": config["MAIL_DEFAULT_SENDER"],
        "NEWSLETTER_MAIL_SERVER": sink.host,
        "NEWSLETTER_MAIL_PORT": str(sink.port),
        "NEWSLETTER_SEND_RATE": str(rate),
        "NEWSLETTER_SEND_BATCH_SIZE": str(batch_size),
        "NEWSLETTER_SEND_LEASE_SECONDS": "1",
    }
    with (log_dir / f"worker-{time.monotonic_ns()}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "worker"], cwd=ROOT, env=env, stdout=log, stderr=log
        )


def wait_for(condition, timeout: float = 30.0) -> None:
    """Poll `condition` until it holds; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting")
        time.sleep(0.05)


# --- the script ----------------------------------------------------------------------------


def _fresh_database(base_url: str | None, folder: Path) -> tuple[str, Callable[[], None]]:
    if not base_url:
        return f"sqlite:///{folder / f'faults-{uuid.uuid4().hex[:6]}.db'}", lambda: None
    base = make_url(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"nl_faults_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def _app_for(url: str, sink):
    from newsletter import create_app
    from newsletter.defaults import default_rows

    app = create_app(
        {
            "SECRET_KEY": "bench-faults",
            "SQLALCHEMY_DATABASE_URI": url,
            "AUTO_UPGRADE_SQLITE": False,
            "BASE_URL": "https://news.example.test",
            "MAIL_DEFAULT_SENDER": "Demo Shop <news@shop.example>",
            "MAIL_TIMEOUT": 1,
            "BOUNCE_ADDRESS": "bounces@shop.example",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            **sink.config(),
        }
    )
    with app.app_context():
        db.create_all()
        with db.engine.begin() as connection:
            for table, rows in default_rows(utcnow().replace(tzinfo=None)).items():
                connection.execute(db.metadata.tables[table].insert(), rows)
    return app


def main() -> None:
    from tests.conftest import free_port
    from tests.fault_smtp import FaultSink

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("NEWSLETTER_TEST_DATABASE_URL"))
    args = parser.parse_args()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command log
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in [*SCENARIOS, "kill -9"]:
            sink = FaultSink(port=free_port(), hang_seconds=3.0)
            sink.start()
            url, drop = _fresh_database(args.database_url, Path(folder))
            app = _app_for(url, sink)
            try:
                with app.app_context():
                    if name == "kill -9":
                        rows.append(run_kill9(app, sink, args.recipients, Path(folder)))
                    else:
                        rows.append(run_scenario(app, sink, name, args.recipients))
                    db.session.remove()
                    db.engine.dispose()
            finally:
                sink.stop()
                drop()
            print(_line(rows[-1]), flush=True)
    print(
        f"\ndatabase: {'PostgreSQL' if args.database_url else 'SQLite'}; totals:",
        {
            key: sum(getattr(row, key) for row in rows)
            for key in ("recipients", "lost", "duplicates", "refused", "http_500")
        },
    )


def _line(row: Figures) -> str:
    data = asdict(row)
    return " | ".join(f"{key}={value}" for key, value in data.items())


if __name__ == "__main__":
    main()
