"""An objection recorded through the API stops the next campaign (real SMTP on loopback)."""

from __future__ import annotations

import pytest

from newsletter import api_tokens, campaigns, sending
from newsletter.extensions import db


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, **smtp_server.config()}


def test_objection_through_the_api_stops_the_next_campaign(
    client, make_subscriber, make_campaign, smtp_server
):
    make_subscriber("ann@example.org")
    make_subscriber("bob@example.org")
    _row, secret = api_tokens.create_token("till", [api_tokens.WRITE_OBJECTIONS])
    db.session.commit()
    response = client.post(
        "/api/v1/objections",
        json={"email": "Ann@Example.org", "channels": ["email"]},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 201
    assert campaigns.start_sending(make_campaign()) == 1
    db.session.commit()
    sending.send_pending("test-worker")
    received = sorted(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert received == ["bob@example.org"]
