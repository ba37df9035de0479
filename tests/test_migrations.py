"""The Alembic migrations build the schema the models describe, on an empty database."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import select, text

from newsletter import create_app
from newsletter.extensions import db
from newsletter.models import ConsentText, Setting, Topic
from newsletter.sending import changes

MIGRATIONS = str(Path(__file__).resolve().parents[1] / "migrations")


def _migrating_app(url: str):
    """An app on `url` that leaves the migrations to the test (no automatic upgrade)."""
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "k",
            "SQLALCHEMY_DATABASE_URI": url,
            "AUTO_UPGRADE_SQLITE": False,
        }
    )


def test_migrations_upgrade_an_empty_database_and_agree_with_models(empty_database_url):
    app = _migrating_app(empty_database_url)
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == []
        assert db.session.scalar(select(Topic.slug)) == "newsletter"
        assert db.session.scalar(select(ConsentText.version)) == 1
        assert len(db.session.get(Setting, "suppression_key").value) == 64
        if db.engine.dialect.name == "sqlite":  # rule 3: the triggers that count, their row
            names = db.session.scalars(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).all()
            assert set(changes.sqlite_triggers()) <= set(names)
            count = db.session.scalar(text(f"SELECT n FROM {changes.COUNT} WHERE id = 1"))
            assert count is not None
        db.session.remove()
        db.engine.dispose()


def test_new_sqlite_database_is_upgraded_on_first_start(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = create_app({"TESTING": True, "SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": url})
    assert "flask admin create" in capsys.readouterr().out
    with app.app_context():
        assert db.session.scalar(select(Topic.slug)) == "newsletter"
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("renamed", [False, True], ids=["untouched", "renamed-by-the-operator"])
def test_migration_0018_names_the_default_list_in_dutch_and_french_unless_renamed(
    empty_database_url, renamed
):
    app = _migrating_app(empty_database_url)
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0017")  # an installation before 0018
        if renamed:
            db.session.execute(text("UPDATE topic SET name = 'Nieuws van de winkel'"))
            db.session.commit()
        upgrade(directory=MIGRATIONS)
        names = dict(db.session.execute(text("SELECT locale, name FROM topic_translation")).all())
        assert names == ({} if renamed else {"nl": "Nieuwsbrief", "fr": "Lettre d'information"})
        db.session.remove()
        db.engine.dispose()
