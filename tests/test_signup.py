"""Signup and double opt-in."""

from __future__ import annotations

from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import ConsentEvent, Subscriber, SubscriberStatus
from tests.helpers import confirm_path, mail_html, mail_text, signup


def test_signup_records_pending_subscriber_and_sends_confirmation(client, outbox):
    response = signup(client, name="Ann")
    assert response.status_code == 200
    assert "Check your inbox" in response.text
    subscriber = db.session.scalar(select(Subscriber))
    assert subscriber.status == SubscriberStatus.PENDING
    assert subscriber.email == "ann@example.org"
    [message] = outbox()
    assert message["To"] == "ann@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    assert "/confirm/" in mail_text(message)
    assert "/confirm/" in mail_html(message)


def test_confirm_get_changes_nothing(client, outbox):
    signup(client)
    path = confirm_path(outbox()[0])
    response = client.get(path)
    assert response.status_code == 200
    assert "<button" in response.text
    assert "Confirm" in response.text
    db.session.expire_all()
    assert db.session.scalar(select(Subscriber)).status == SubscriberStatus.PENDING
    kinds = db.session.scalars(select(ConsentEvent.kind)).all()
    assert kinds == ["signup"]


def test_confirm_post_activates_and_second_use_is_harmless(client, outbox):
    signup(client)
    path = confirm_path(outbox()[0])
    assert client.post(path).status_code == 200
    again = client.post(path)
    assert again.status_code == 200
    db.session.expire_all()
    subscriber = db.session.scalar(select(Subscriber))
    assert subscriber.status == SubscriberStatus.ACTIVE
    assert [s.topic.slug for s in subscriber.subscriptions if s.confirmed_at] == ["newsletter"]
    kinds = db.session.scalars(select(ConsentEvent.kind).order_by(ConsentEvent.id)).all()
    assert kinds == ["signup", "confirm"]


def test_signup_without_consent_is_refused_with_a_message(client, outbox):
    response = signup(client, consent=False)
    assert response.status_code == 400
    assert "tick the box" in response.text
    assert outbox() == []
    assert db.session.scalar(select(Subscriber)) is None


def test_malformed_address_gets_a_clear_error(client, outbox):
    response = signup(client, email="not-an-address")
    assert response.status_code == 400
    assert "check the email address" in response.text
    assert outbox() == []
