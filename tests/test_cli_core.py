"""Command line: export, erase, outbox, topics, jobs run-due, and the secret-key guard."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter import create_app
from newsletter.clock import utcnow
from newsletter.extensions import db
from newsletter.models import RightsRequest, Subscriber, SubscriberStatus, Topic
from tests.helpers import signup


def test_export_prints_everything_held_as_json(runner, client, outbox):
    signup(client, "ann@example.org", name="Ann")
    result = runner.invoke(args=["subscribers", "export", " ANN@example.org "])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["email"] == "ann@example.org"
    assert data["name"] == "Ann"
    assert data["status"] == "pending"
    assert data["consent_events"][0]["consent_text"]["version"] == 1
    assert db.session.scalar(select(RightsRequest.kind)) == "export"


def test_erase_removes_the_subscriber_like_an_opt_out(runner, make_subscriber):
    make_subscriber("bob@example.org")
    result = runner.invoke(args=["subscribers", "erase", "bob@example.org"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Subscriber)) is None
    again = runner.invoke(args=["subscribers", "erase", "bob@example.org"])
    assert again.exit_code != 0
    assert "no subscriber" in again.output


def test_cli_rejects_malformed_address_clearly(runner):
    result = runner.invoke(args=["subscribers", "export", "not an address"])
    assert result.exit_code == 2
    assert "Invalid value for EMAIL" in result.output


def test_outbox_list_and_show(runner, client, outbox):
    signup(client, "ann@example.org")
    listing = runner.invoke(args=["outbox", "list"])
    assert "ann@example.org" in listing.output
    message_id = listing.output.split("\t")[0]
    shown = runner.invoke(args=["outbox", "show", message_id])
    assert "Auto-Submitted: auto-generated" in shown.output
    assert runner.invoke(args=["outbox", "show", "999"]).exit_code == 1


def test_topics_create_with_own_similar_products_flag(runner):
    result = runner.invoke(
        args=[
            "topics",
            "create",
            "offers",
            "--name",
            "Offers",
            "--own-similar-products",
            "--product-range",
            "Garden tools and plants",
        ]
    )
    assert result.exit_code == 0, result.output
    topic = db.session.scalar(select(Topic).where(Topic.slug == "offers"))
    assert topic.own_similar_products
    assert runner.invoke(args=["topics", "create", "offers", "--name", "X"]).exit_code == 1
    bad = runner.invoke(args=["topics", "create", "Bad Slug!", "--name", "X"])
    assert bad.exit_code == 1
    assert "lower-case letters, digits and dashes" in bad.output


def test_unconfirmed_signups_are_purged_after_the_confirm_window(runner, client, outbox):
    signup(client, "late@example.org")
    soon = (utcnow() + timedelta(hours=47)).isoformat()
    runner.invoke(args=["jobs", "run-due", "--as-of", soon])
    assert db.session.scalar(select(Subscriber.status)) == SubscriberStatus.PENDING
    later = (utcnow() + timedelta(hours=49)).isoformat()
    result = runner.invoke(args=["jobs", "run-due", "--as-of", later])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["purge-unconfirmed"] == 1
    db.session.expire_all()
    assert db.session.scalar(select(Subscriber)) is None
    assert outbox() == []


def test_jobs_run_due_rejects_a_bad_date(runner):
    result = runner.invoke(args=["jobs", "run-due", "--as-of", "next tuesday"])
    assert result.exit_code == 2
    assert "not an ISO date" in result.output


def test_refuses_to_start_without_secret_key_when_mail_can_leave(tmp_path, monkeypatch):
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    with pytest.raises(RuntimeError, match="NEWSLETTER_SECRET_KEY is not set"):
        create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
                "MAIL_SERVER": "smtp.example.org",
                "AUTO_UPGRADE_SQLITE": False,
            }
        )


def test_client_ip_behind_a_trusted_proxy_is_the_forwarded_one(app, app_config):
    from newsletter.models import ConsentEvent

    app = create_app({**app_config, "TRUSTED_PROXIES": 1})
    with app.app_context():
        app.test_client().post(
            "/subscribe",
            data={
                "email": "p@example.org",
                "topics": ["newsletter"],
                "consent": "y",
                "consent_text_id": "1",
            },
            headers={"X-Forwarded-For": "198.51.100.23"},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
        assert db.session.scalar(select(ConsentEvent.ip)) == "198.51.100.23"
        db.session.remove()
        db.engine.dispose()
