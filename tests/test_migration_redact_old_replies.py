"""Migration 0009: SMTP replies stored before the redaction existed lose the addresses
they quote (GDPR Art. 5(1)(c), 17(1), 32), on a real SQLite file (and PostgreSQL when
NEWSLETTER_TEST_DATABASE_URL is set), from a database at the revision before it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade

from newsletter import compliance, create_app
from newsletter.extensions import db

MIGRATIONS = str(Path(__file__).resolve().parents[1] / "migrations")
BEFORE = "0008"  # the revision before 0009
ERASED = "jan.peeters@example.be"


def _table(name: str, *columns: str):
    return sa.table(name, *(sa.column(c) for c in columns))


def test_migration_0009_blanks_the_addresses_quoted_in_old_smtp_replies(empty_database_url):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "k",
            "SQLALCHEMY_DATABASE_URI": empty_database_url,
            "AUTO_UPGRADE_SQLITE": False,
        }
    )
    replies = {
        # A person erased by an older version: the row has no subscriber, and the reply
        # still quotes the address.
        1: f"550 5.1.1 <{ERASED.upper()}>: Recipient address rejected: User unknown",
        2: "451 4.2.0 forwarded to jp＠other.example, mailbox full",  # full-width at sign
        3: "421 4.7.0 try again later",  # nothing to remove
        4: f"550 5.1.1 <{compliance.REDACTED}>: unknown",  # already redacted
        5: None,
    }
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision=BEFORE)
        topic_id = db.session.scalar(sa.text("SELECT id FROM topic"))
        now = datetime(2025, 3, 1)
        with db.engine.begin() as connection:
            connection.execute(
                _table(
                    "campaign",
                    "id",
                    "subject",
                    "preheader",
                    "body_markdown",
                    "topic_id",
                    "status",
                    "created_at",
                    "created_by",
                    "stats",
                ).insert(),
                [
                    {
                        "id": 1,
                        "subject": "Lentenieuws",
                        "preheader": "",
                        "body_markdown": "Hallo",
                        "topic_id": topic_id,
                        "status": "sent",
                        "created_at": now,
                        "created_by": "",
                        "stats": "{}",
                    }
                ],
            )
            connection.execute(
                _table(
                    "delivery", "id", "campaign_id", "status", "attempts", "last_error"
                ).insert(),
                [
                    {
                        "id": key,
                        "campaign_id": 1,
                        "status": "failed",
                        "attempts": 1,
                        "last_error": text,
                    }
                    for key, text in replies.items()
                ],
            )
        db.session.remove()
        upgrade(directory=MIGRATIONS, revision="0009")  # this migration, whatever follows it
        stored = dict(db.session.execute(sa.text("SELECT id, last_error FROM delivery")).all())
        assert stored == {
            1: f"550 5.1.1 <{compliance.REDACTED}>: Recipient address rejected: User unknown",
            2: f"451 4.2.0 forwarded to {compliance.REDACTED}, mailbox full",
            3: "421 4.7.0 try again later",
            4: f"550 5.1.1 <{compliance.REDACTED}>: unknown",
            5: None,
        }
        assert db.session.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0009"
        db.session.remove()
        db.engine.dispose()
    if empty_database_url.startswith("sqlite:///"):
        # The address has left the file's bytes too (secure_delete, the WAL folded in).
        base = Path(empty_database_url.removeprefix("sqlite:///"))
        for path in (base, base.with_name(base.name + "-wal")):
            if path.exists():
                content = path.read_bytes().lower()
                assert ERASED.encode() not in content, path
                assert b"jp\xef\xbc\xa0other" not in content, path
