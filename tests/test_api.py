"""The objection register API and its tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate
from sqlalchemy import func, select

from newsletter import api_tokens, compliance
from newsletter.addresses import address_hash
from newsletter.extensions import db
from newsletter.models import (
    ApiToken,
    Channel,
    ConsentEvent,
    RightsRequest,
    Subscriber,
    Subscription,
    Suppression,
    Topic,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def token(runner):
    """Create a token through the CLI with the given scopes; returns the secret."""

    def create(name="shop", *scopes):
        scopes = scopes or api_tokens.SCOPES
        args = ["api-token", "create", name]
        for scope in scopes:
            args += ["--scope", scope]
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        return result.stdout.strip().splitlines()[0]

    return create


def auth(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def object_to(client, secret, payload):
    return client.post("/api/v1/objections", json=payload, headers=auth(secret))


def check(client, secret, payload):
    return client.post("/api/v1/objections/check", json=payload, headers=auth(secret))


def test_token_is_printed_once_and_stored_hashed(token):
    secret = token("shop")
    row = db.session.scalar(select(ApiToken))
    assert secret.startswith("nlt_")
    assert len(secret) > 40
    assert row.token_hash != secret
    assert secret not in str(row.scopes)
    assert row.scopes == sorted(api_tokens.SCOPES)


def test_objection_on_all_channels_erases_the_subscriber(client, token, make_subscriber):
    make_subscriber("ann@example.org")
    response = object_to(client, token(), {"email": " ANN@example.org "})
    assert response.status_code == 201
    assert response.json["channels"] == list(Channel.ALL)
    assert response.json["newly_recorded"] == list(Channel.ALL)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0
    digest = address_hash("ann@example.org")
    for channel in Channel.ALL:
        assert compliance.is_objected(digest, channel)
    kinds = db.session.scalars(select(ConsentEvent.kind).order_by(ConsentEvent.id)).all()
    assert kinds[-2:] == ["erase", "objection"]
    request = db.session.scalar(select(RightsRequest))
    assert (request.kind, request.channel) == ("objection", "api:shop")
    assert request.completed_at is not None


def test_objection_on_sms_only_keeps_the_email_subscription(client, token, make_subscriber):
    make_subscriber("ann@example.org")
    secret = token()
    response = object_to(client, secret, {"email": "ann@example.org", "channels": ["sms"]})
    assert response.status_code == 201
    assert response.json["channels"] == ["sms"]
    db.session.expire_all()
    assert db.session.scalar(select(Subscriber)).email == "ann@example.org"
    sms = check(client, secret, {"email": "ann@example.org", "channel": "sms"})
    mail = check(client, secret, {"email": "ann@example.org", "channel": "email"})
    assert sms.json == {"may_contact": False}
    assert mail.json == {"may_contact": True}


def test_objection_is_idempotent(client, token):
    secret = token()
    object_to(client, secret, {"email": "x@example.org", "channels": ["post"]})
    again = object_to(client, secret, {"email": "x@example.org", "channels": ["post", "phone"]})
    assert again.status_code == 201
    assert again.json["newly_recorded"] == ["phone"]
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 2


def test_check_answers_for_a_person_we_never_knew(client, token):
    response = check(client, token(), {"email": "new@example.org", "channel": "phone"})
    assert response.status_code == 200
    assert response.json == {"may_contact": True}


def test_objection_through_the_api_stops_the_next_campaign(client, token, make_subscriber):
    """Until the sending engine is merged: the person is no longer a lawful recipient."""
    topic = db.session.scalar(select(Topic).where(Topic.slug == "newsletter"))
    make_subscriber("ann@example.org")
    make_subscriber("bob@example.org")

    def recipients():
        db.session.expire_all()
        query = (
            select(Subscriber.email)
            .join(Subscription)
            .where(compliance.lawful_recipients_condition(topic))
        )
        return sorted(db.session.scalars(query))

    assert recipients() == ["ann@example.org", "bob@example.org"]
    assert object_to(client, token(), {"email": "ann@example.org"}).status_code == 201
    assert recipients() == ["bob@example.org"]
    assert compliance.is_objected(address_hash("ann@example.org"), Channel.EMAIL)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer nlt_wrong"}, 401),
        ({"Authorization": "Basic c2hvcDpzZWNyZXQ="}, 401),
        ({"Authorization": "Bearer "}, 401),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/objections", "/api/v1/objections/check"])
def test_missing_or_wrong_token_is_401(client, token, headers, status, path):
    token()
    response = client.post(path, json={"email": "a@example.org", "channel": "sms"}, headers=headers)
    assert response.status_code == status
    assert "API token" in response.json["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_revoked_token_is_401(client, token, runner):
    secret = token("till")
    assert object_to(client, secret, {"email": "a@example.org"}).status_code == 201
    result = runner.invoke(args=["api-token", "revoke", "till"])
    assert result.exit_code == 0
    assert object_to(client, secret, {"email": "b@example.org"}).status_code == 401


def test_token_without_the_scope_is_403(client, token):
    reader = token("reader", api_tokens.READ_OBJECTIONS)
    writer = token("writer", api_tokens.WRITE_OBJECTIONS)
    denied = object_to(client, reader, {"email": "a@example.org"})
    assert denied.status_code == 403
    assert "objections:write" in denied.json["error"]
    assert check(client, writer, {"email": "a@example.org", "channel": "sms"}).status_code == 403
    assert check(client, reader, {"email": "a@example.org", "channel": "sms"}).status_code == 200
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "Send a JSON object"),
        ('["a@example.org"]', "Send a JSON object"),
        ('{"channels": ["sms"]}', "email address is required"),
        ('{"email": "nope"}', "@-sign"),
        ('{"email": "a@example.org", "channels": ["fax"]}', "Unknown channel"),
        ('{"email": "a@example.org", "channels": []}', "non-empty list"),
        ('{"email": "a@example.org", "channels": "sms"}', "non-empty list"),
        ('{"email": 42}', "'email' must be a string"),
    ],
)
def test_bad_objection_requests_get_a_clear_400(client, token, body, message):
    response = client.post(
        "/api/v1/objections",
        data=body,
        headers={**auth(token()), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert message in response.json["error"]
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"email": "a@example.org"}, "'channel' must be one of"),
        ({"email": "a@example.org", "channel": "fax"}, "'channel' must be one of"),
        ({"channel": "sms"}, "email address is required"),
    ],
)
def test_bad_check_requests_get_a_clear_400(client, token, payload, message):
    response = check(client, token(), payload)
    assert response.status_code == 400
    assert message in response.json["error"]


def test_api_is_rate_limited(app, client, token):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    secret = token()
    statuses = [
        check(client, secret, {"email": "a@example.org", "channel": "sms"}).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


def test_token_cli_refuses_duplicates_and_unknown_names(runner, token):
    token("shop")
    again = runner.invoke(args=["api-token", "create", "shop", "--scope", "objections:read"])
    assert again.exit_code == 1
    assert "exists already" in again.output
    missing = runner.invoke(args=["api-token", "revoke", "nobody"])
    assert missing.exit_code == 1
    assert "No token named" in missing.output
    bad = runner.invoke(args=["api-token", "create", "x", "--scope", "everything"])
    assert bad.exit_code == 2


def test_openapi_document_is_valid_and_lists_both_paths():
    document = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert {"/objections", "/objections/check"} <= set(document["paths"])
    assert document["servers"][0]["url"].endswith("/api/v1")
