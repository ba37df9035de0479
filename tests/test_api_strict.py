"""The API reads exactly what docs/openapi.yaml describes: an unknown field or a value of
the wrong type is a 400 naming it, and nothing is recorded; another method is a 405
with `Allow`."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from sqlalchemy import func, select

from newsletter import api_tokens
from newsletter.extensions import db
from newsletter.models import ConsentEvent, RightsRequest, Subscriber, Suppression

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())


@pytest.fixture
def secret(runner):
    result = runner.invoke(
        args=["api-token", "create", "shop"]
        + [arg for scope in api_tokens.SCOPES for arg in ("--scope", scope)]
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


def post(client, secret, path, body):
    return client.post(f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {secret}"})


def recorded_rows() -> int:
    db.session.expire_all()
    return sum(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Suppression, ConsentEvent, RightsRequest)
    )


def test_objection_with_the_check_endpoints_field_is_refused_not_read_as_every_channel(
    client, secret, make_subscriber
):
    """The issue's case: `channel` (singular) sent to /objections."""
    make_subscriber("ann@example.org")
    before = recorded_rows()
    response = post(client, secret, "/objections", {"email": "ann@example.org", "channel": "sms"})
    assert response.status_code == 400
    assert "Unknown field 'channel'" in response.json["error"]
    assert "email, channels" in response.json["error"]  # says what it takes instead
    db.session.expire_all()
    assert db.session.scalar(select(Subscriber.email)) == "ann@example.org"  # not erased
    assert recorded_rows() == before


OBJECTION_BODIES = [
    ({"email": "ann@example.org"}, None),
    ({"email": "ann@example.org", "channels": ["sms", "post"]}, None),
    ({"email": "ann@example.org", "channel": "sms"}, "'channel'"),
    ({"email": "ann@example.org", "channels": ["sms"], "note": "x"}, "'note'"),
    ({"email": "ann@example.org", "Channels": ["sms"]}, "'Channels'"),
    ({"email": 42}, "'email'"),
    ({"email": None}, "'email'"),
    ({"email": ["ann@example.org"]}, "'email'"),
    ({"email": "ann@example.org", "channels": "sms"}, "'channels'"),
    ({"email": "ann@example.org", "channels": None}, "'channels'"),
    ({"email": "ann@example.org", "channels": {"sms": True}}, "'channels'"),
]
CHECK_BODIES = [
    ({"email": "ann@example.org", "channel": "sms"}, None),
    ({"email": "ann@example.org", "channels": ["sms"]}, "'channels'"),
    ({"email": "ann@example.org", "channel": "sms", "extra": 1}, "'extra'"),
    ({"email": "ann@example.org", "channel": 3}, "'channel'"),
    ({"email": "ann@example.org", "channel": ["sms"]}, "'channel'"),
    ({"email": True, "channel": "sms"}, "'email'"),
]


def schema_of(name: str) -> dict:
    """A component schema of docs/openapi.yaml, its $refs resolved within the document."""
    return {**OPENAPI, "$ref": f"#/components/schemas/{name}"}


@pytest.mark.parametrize(("body", "named"), OBJECTION_BODIES)
def test_objection_bodies_are_read_strictly_as_documented(
    client, secret, make_subscriber, body, named
):
    make_subscriber("ann@example.org")
    before = recorded_rows()
    response = post(client, secret, "/objections", body)
    documented = jsonschema.Draft202012Validator(schema_of("ObjectionRequest")).is_valid(body)
    assert documented == (named is None)  # the server keeps to the published schema
    if named is None:
        assert response.status_code == 201
        return
    assert response.status_code == 400
    assert named in response.json["error"]
    assert "Nothing was recorded" in response.json["error"]
    assert recorded_rows() == before
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 1


@pytest.mark.parametrize(("body", "named"), CHECK_BODIES)
def test_check_bodies_are_read_strictly_as_documented(client, secret, body, named):
    response = post(client, secret, "/objections/check", body)
    documented = jsonschema.Draft202012Validator(schema_of("CheckRequest")).is_valid(body)
    assert documented == (named is None)
    if named is None:
        assert response.status_code == 200
        assert response.json == {"may_contact": True}
    else:
        assert response.status_code == 400
        assert named in response.json["error"]


def test_the_token_is_checked_before_the_body(client):
    response = client.post("/api/v1/objections", json={"email": "a@example.org", "x": 1})
    assert response.status_code == 401


def test_the_documented_schemas_forbid_other_fields():
    schemas = OPENAPI["components"]["schemas"]
    for name in ("ObjectionRequest", "CheckRequest"):
        assert schemas[name]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/api/v1/objections", {"POST", "OPTIONS"}),
        ("PUT", "/api/v1/objections/check", {"POST", "OPTIONS"}),
        ("GET", "/inbound/bounces", {"POST", "OPTIONS"}),
        ("DELETE", "/subscribe", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("GET", "/confirm/abc/resend", {"POST", "OPTIONS"}),
    ],
)
def test_method_not_allowed_carries_allow(client, method, path, allowed):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == allowed
    if path.startswith(("/api/", "/inbound/")):
        assert response.is_json
        assert response.json["error"] == "Method Not Allowed"
