"""System mail through a real SMTP server on loopback, and header-injection safety."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from newsletter import notices
from newsletter.extensions import db
from newsletter.models import OutboxMessage, Subscriber
from tests.helpers import mail_text, signup


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, **smtp_server.config()}


def test_confirmation_mail_arrives_through_real_smtp(client, smtp_server):
    response = signup(client, "ann@example.org")
    assert response.status_code == 200
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["ann@example.org"]
    assert received.mail_from == "news@shop.example"
    message = received.message
    assert message["Auto-Submitted"] == "auto-generated"
    assert "/confirm/" in mail_text(message)
    assert db.session.scalar(select(OutboxMessage)) is None  # real SMTP: no outbox copy


def test_smtp_refusal_keeps_the_signup_and_answers_kindly(client, smtp_server):
    smtp_server.fail_next.append("451 4.3.0 try again later")
    response = signup(client, "ann@example.org")
    assert response.status_code == 200
    assert db.session.scalar(select(Subscriber.email)) == "ann@example.org"


def test_unreachable_smtp_server_is_no_500(app, client, smtp_server):
    app.config["MAIL_PORT"] = 1  # nothing listens there
    response = signup(client, "ann@example.org")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "field",
    ["name", "email"],
)
def test_crlf_in_a_field_never_becomes_a_header(client, smtp_server, field):
    values = {"email": "ann@example.org", "name": "Ann"}
    values[field] = values[field] + "\r\nBcc: victim@example.org"
    response = signup(client, **values) if field == "name" else signup(client, values["email"])
    assert response.status_code == 400
    assert smtp_server.messages == []


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=st.text(min_size=1, max_size=80))
def test_crlf_in_a_system_mail_subject_never_becomes_a_header(app, subject):
    injected = subject + "\r\nBcc: victim@example.org"
    try:
        message = notices.build_system_mail(
            "confirm",
            "ann@example.org",
            injected,
            confirm_url="https://x",
            topics=[],
            max_age_hours=48,
            privacy_url="https://x",
        )
    except ValueError:
        return  # refused outright: fine
    raw = message.as_bytes()
    assert b"\nBcc:" not in raw
    assert message["Bcc"] is None
