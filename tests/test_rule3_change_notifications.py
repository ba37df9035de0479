"""Rule 3 on PostgreSQL without a round trip a message (newsletter/sending/changes.py).

The sender skips the per-message re-check while PostgreSQL has told it of no change to
what rules 1 and 3 read; these tests make such changes the ways they happen (the domain's
opt-out, raw SQL from another connection, a topic flag) in the middle of a send, and check
that no message reaches the person after it, and that whatever makes the sender unsure
(missing triggers, a lost listening connection) means the re-check for every message.
"""

from __future__ import annotations

import psycopg
import pytest
from flask import current_app
from sqlalchemy import text

from newsletter import campaigns, sending, subscriptions
from newsletter.addresses import address_hash
from newsletter.extensions import db
from newsletter.models import Channel, Subscriber, Suppression
from newsletter.sending import changes, recipients

from .helpers import PG_URL


@pytest.fixture
def app_config(app_config, smtp_server):
    """Every test here sends to the real loopback SMTP server."""
    return {**app_config, **smtp_server.config()}


@pytest.fixture
def rechecks(monkeypatch):
    """The messages re-checked against the database (subscriber ids), in order."""
    seen: list[int] = []
    real = recipients.still_lawful

    def counting(delivery, recipient):
        seen.append(delivery.subscriber_id)
        return real(delivery, recipient)

    monkeypatch.setattr(recipients, "still_lawful", counting)
    return seen


def _send(make_campaign, make_subscriber, smtp_server, change, count: int = 6, **campaign):
    """Send a campaign to `count` people; `change(app, their ids)` runs in the SMTP server's
    thread as the second message arrives, committed before that message is accepted."""
    people = [make_subscriber(f"p{i}@example.org") for i in range(count)]
    ids = [person.id for person in people]
    app = current_app._get_current_object()

    def on_message(_received):
        if len(smtp_server.messages) == 2:
            change(app, ids)

    smtp_server.handler.on_message = on_message
    campaigns.start_sending(make_campaign(**campaign))
    db.session.commit()
    counts = sending.send_pending("test-worker", batch_size=50)
    received = [rcpt for message in smtp_server.messages for rcpt in message.rcpt_tos]
    return people, counts, received


def _sql(app, statement: str, **values) -> None:
    """Run `statement` on a connection of its own, as an operator's psql would."""
    with app.app_context():
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement, values)


def test_rule_3_an_opt_out_mid_send_stops_the_next_message_without_a_recheck_each(
    make_campaign, make_subscriber, smtp_server, rechecks
):
    if not PG_URL:
        pytest.skip("the change notifications are PostgreSQL's; SQLite re-checks each")

    def opt_out(app, ids):
        with app.app_context():
            leaver = db.session.get(Subscriber, ids[4])
            subscriptions.erase(leaver, "unsubscribed", Channel.ALL, subscriptions.Evidence("test"))
            db.session.commit()

    people, counts, received = _send(make_campaign, make_subscriber, smtp_server, opt_out)
    assert "p4@example.org" not in received
    assert counts["sent"] == 5
    assert counts["skipped"] == 1
    # Nothing was re-checked before the opt-out; everything after it was.
    assert people[0].id not in rechecks
    assert people[1].id not in rechecks
    assert rechecks
    assert rechecks[-1] == people[5].id


@pytest.mark.parametrize(
    "statement",
    [
        'DELETE FROM "subscription" WHERE subscriber_id = %(id)s',
        "UPDATE \"subscriber\" SET status = 'pending' WHERE id = %(id)s",
        'INSERT INTO "suppression" (address_hash, channel, reason, created_at) '
        "SELECT address_hash, 'email', 'objection', now() FROM \"suppression\" LIMIT 0",
    ],
    ids=["subscription-deleted", "subscriber-no-longer-active", "suppression-statement"],
)
def test_rule_3_a_change_by_raw_sql_from_elsewhere_is_seen_before_the_next_message(
    make_campaign, make_subscriber, smtp_server, rechecks, statement
):
    if not PG_URL:
        pytest.skip("the change notifications are PostgreSQL's; SQLite re-checks each")

    def change(app, ids):
        _sql(app, statement, id=ids[4])

    people, _counts, received = _send(make_campaign, make_subscriber, smtp_server, change)
    if "suppression" not in statement:
        assert "p4@example.org" not in received
    # Even a statement that changed no row made the sender unsure: the rest re-checked.
    assert people[5].id in rechecks
    assert people[4].id in rechecks
    assert people[0].id not in rechecks


def test_rule_3_an_objection_recorded_mid_send_is_seen_before_the_next_message(
    make_campaign, make_subscriber, smtp_server, rechecks
):
    if not PG_URL:
        pytest.skip("the change notifications are PostgreSQL's; SQLite re-checks each")

    def object_(app, _ids):
        with app.app_context():  # on the suppression list only; the subscriber stays
            hashed = address_hash("p3@example.org")
            db.session.add(Suppression(address_hash=hashed, reason="objection"))
            db.session.commit()

    _people, _counts, received = _send(make_campaign, make_subscriber, smtp_server, object_)
    assert "p3@example.org" not in received


def test_rule_3_without_the_triggers_every_message_is_rechecked(
    make_campaign, make_subscriber, smtp_server, rechecks
):
    if not PG_URL:
        pytest.skip("the change notifications are PostgreSQL's; SQLite re-checks each")
    db.session.execute(text(f'DROP TRIGGER {changes.TRIGGER} ON "topic"'))
    db.session.commit()
    try:
        people, counts, _received = _send(
            make_campaign, make_subscriber, smtp_server, lambda _app, _ids: None
        )
    finally:
        changes.create_triggers(db.session.connection())
        db.session.commit()
    assert counts["sent"] == 6
    assert rechecks == [person.id for person in people]


def test_rule_3_a_lost_listening_connection_means_a_recheck_for_every_message(
    make_campaign, make_subscriber, smtp_server, rechecks
):
    if not PG_URL:
        pytest.skip("the change notifications are PostgreSQL's; SQLite re-checks each")

    def kill_the_listener(app, _ids):
        # The listening connection's last statement is the check for the triggers.
        _sql(
            app,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE '%%FROM pg_trigger%%' AND pid <> pg_backend_pid()",
        )

    people, counts, received = _send(make_campaign, make_subscriber, smtp_server, kill_the_listener)
    assert counts["sent"] == 6
    assert len(received) == 6
    assert people[0].id not in rechecks
    assert rechecks[-1] == people[5].id


def test_rule_3_sqlite_rechecks_every_message(
    make_campaign, make_subscriber, smtp_server, rechecks
):
    if PG_URL:
        pytest.skip("SQLite's path: PostgreSQL's is the tests above")
    people, counts, _received = _send(
        make_campaign, make_subscriber, smtp_server, lambda _app, _ids: None
    )
    assert counts["sent"] == 6
    assert rechecks == [person.id for person in people]
