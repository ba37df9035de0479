"""`flask campaign send ID --wait` as people run it: the real command in a terminal (a
pseudo-terminal), sending with several processes to a real SMTP server on loopback
(bench/sink.py, which counts what it accepted per recipient), on SQLite or PostgreSQL.

What a user checks: every recipient gets the campaign exactly once, whatever the number
of processes; Ctrl-C stops it without losing or doubling a message; a terminal shows
progress.
"""

from __future__ import annotations

import hashlib
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, text
from sqlalchemy import select as sql_select

from bench import dataset
from bench.sink import SinkProcess
from newsletter import sending
from newsletter.extensions import db
from newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sink():
    with SinkProcess() as running:
        yield running


def _command_env(app, sink, **settings) -> dict:
    """The environment of a real `flask` process on the test's database and sink."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSLETTER_")}
    config = {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test-secret-key-for-the-cli-0123456789",
        "BASE_URL": app.config["BASE_URL"],
        "MAIL_SERVER": sink.host,
        "MAIL_PORT": str(sink.port),
        "MAIL_DEFAULT_SENDER": app.config["MAIL_DEFAULT_SENDER"],
        "ORGANIZATION_NAME": app.config["ORGANIZATION_NAME"],
        "ORGANIZATION_ADDRESS": app.config["ORGANIZATION_ADDRESS"],
        "AUTO_UPGRADE_SQLITE": "false",
        **{key: str(value) for key, value in settings.items()},
    }
    env.update({f"NEWSLETTER_{key}": value for key, value in config.items()})
    env["PYTHONPATH"] = str(ROOT)
    return env


class Terminal:
    """A command run on a pseudo-terminal (so stdout is a tty, as in a shell), in a
    process group of its own (so that Ctrl-C can be sent to it and its helpers)."""

    def __init__(self, args: list[str], env: dict):
        master, slave = pty.openpty()
        self.process = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if not ready:
                if self.process.poll() is not None:
                    return
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                return
            if not data:
                return
            self.output += data

    def ctrl_c(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)

    def wait(self, timeout: float = 180) -> tuple[int, str]:
        code = self.process.wait(timeout)
        self.reader.join(10)
        os.close(self.master)
        return code, self.output.decode("utf-8", "replace")


def _flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "app", *args]


def _subscribers_in_three_languages(count: int) -> None:
    dataset.insert_subscribers(count)
    db.session.execute(
        text(
            "UPDATE subscriber SET locale = CASE id % 3 WHEN 0 THEN 'nl' WHEN 1 THEN 'fr' "
            "ELSE 'en' END"
        )
    )
    db.session.commit()


def _digest(count: int) -> str:
    addresses = sorted(dataset.address(n).encode() for n in range(1, count + 1))
    return hashlib.sha256(b"\n".join(addresses)).hexdigest()


def _statuses(campaign_id: int) -> dict[str, int]:
    db.session.expire_all()
    rows = db.session.execute(
        sql_select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)
    )
    return dict(rows.all())


def test_send_wait_with_several_processes_reaches_each_recipient_exactly_once(
    app, make_campaign, sink
):
    recipients = 900
    _subscribers_in_three_languages(recipients)
    campaign = make_campaign(subject="Everyone once", body="Hello **everyone**.")
    # Small batches and a rate limit (300 a second for the whole command, shared by its
    # processes): the helpers are up before the first process could send it all alone.
    env = _command_env(app, sink, SEND_PROCESSES=3, SEND_BATCH_SIZE=30, SEND_RATE=300)

    code, output = Terminal(_flask("campaign", "send", str(campaign.id), "--wait"), env).wait()

    assert code == 0, output
    assert f"campaign {campaign.id}: {recipients} recipients queued" in output
    assert "sending with 3 processes" in output
    shares = re.search(r"sent by 3 processes: (\d+) \+ (\d+) \+ (\d+)", output)
    assert shares, output
    assert sum(map(int, shares.groups())) == recipients, output
    assert all(int(share) > 0 for share in shares.groups()), "each process took a share"
    assert re.search(rf"campaign {campaign.id} .*100%", output), "a progress bar, to the end"
    stats = sink.stats()
    assert (stats["messages"], stats["recipients"], stats["duplicates"]) == (recipients,) * 2 + (0,)
    assert sink.recipients_digest() == _digest(recipients)
    assert _statuses(campaign.id) == {DeliveryStatus.SENT: recipients}
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.SENT


def test_ctrl_c_stops_send_wait_without_losing_or_doubling_a_message(app, make_campaign, sink):
    recipients = 600
    _subscribers_in_three_languages(recipients)
    campaign = make_campaign(subject="Interrupted", body="Hello.")
    env = _command_env(app, sink, SEND_PROCESSES=2, SEND_BATCH_SIZE=20, SEND_RATE=60)
    terminal = Terminal(_flask("campaign", "send", str(campaign.id), "--wait"), env)
    deadline = time.monotonic() + 120
    while _statuses(campaign.id).get(DeliveryStatus.SENT, 0) < 60:
        assert time.monotonic() < deadline, terminal.output.decode()
        time.sleep(0.2)

    terminal.ctrl_c()
    code, output = terminal.wait()

    assert code == 1, output
    assert "stopped: the messages not tried are back in the queue" in output
    counts = _statuses(campaign.id)
    assert DeliveryStatus.SENDING not in counts, "no claim is left behind"
    assert counts[DeliveryStatus.QUEUED] > 0
    assert counts[DeliveryStatus.SENT] == sink.stats()["messages"]
    assert sink.stats()["duplicates"] == 0

    # What was left goes out later (a worker), to the ones who did not get it.
    app.config.update(MAIL_SERVER=sink.host, MAIL_PORT=sink.port, SEND_RATE=0)
    sending.send_pending("later", campaign_id=campaign.id)
    stats = sink.stats()
    assert (stats["messages"], stats["recipients"], stats["duplicates"]) == (recipients,) * 2 + (0,)
    assert sink.recipients_digest() == _digest(recipients)
    assert _statuses(campaign.id) == {DeliveryStatus.SENT: recipients}


def test_send_processes_setting_of_one_sends_in_the_command_alone(app, runner, make_campaign, sink):
    dataset.insert_subscribers(250)
    campaign = make_campaign()
    app.config.update(
        MAIL_SERVER=sink.host, MAIL_PORT=sink.port, SEND_PROCESSES=1, SEND_BATCH_SIZE=50
    )

    result = runner.invoke(args=["campaign", "send", str(campaign.id), "--wait"])

    assert result.exit_code == 0, result.output
    assert "sending with" not in result.output
    assert "sent by" not in result.output
    assert sink.stats()["messages"] == 250
    assert _statuses(campaign.id) == {DeliveryStatus.SENT: 250}
