"""The API for the shop's other systems: signup through double opt-in, subscribers,
topics, campaigns; bearer tokens with scopes; strict bodies; docs/openapi.yaml kept."""

from __future__ import annotations

import re

import jsonschema
import pytest
from flask_babel import force_locale, gettext
from openapi_spec_validator import validate
from sqlalchemy import func, select

from newsletter import api_tokens, subscriptions
from newsletter.extensions import db
from newsletter.models import (
    Campaign,
    ConsentEvent,
    OutboxMessage,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tests.api_contract import (
    OPENAPI,
    assert_conforms,
    documented_operations,
    request_schema,
    routed_operations,
)
from tests.helpers import confirm_path

ALL = api_tokens.SCOPES


@pytest.fixture
def token(runner):
    """Create a token through the CLI with these scopes; returns the bearer headers."""

    def create(*scopes, name=None):
        scopes = scopes or ALL
        name = name or "t" + str(abs(hash(scopes)) % 10**8)
        args = ["api-token", "create", name]
        for scope in scopes:
            args += ["--scope", scope]
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        return {"Authorization": f"Bearer {result.stdout.strip().splitlines()[0]}"}

    return create


def consent_text_id(client, headers, locale="en") -> int:
    response = client.get("/api/v1/topics", headers=headers)
    assert_conforms(response, "/topics", "get")
    return response.json["consent_texts"][locale]["id"]


def signup_body(client, headers, email="jan@example.org", locale="en", **extra) -> dict:
    body = {
        "email": email,
        "topics": ["newsletter"],
        "locale": locale,
        "consent_text_id": consent_text_id(client, headers, locale),
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (shop checkout)",
        "source": "checkout page",
    }
    return {**body, **extra}


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


# --- the contract --------------------------------------------------------------------------


def test_openapi_document_is_valid_and_lists_every_route_of_the_api(app):
    validate(OPENAPI)
    documented, routed = documented_operations(), routed_operations(app)
    assert routed - documented == set(), "routes missing from docs/openapi.yaml"
    assert documented - routed == set(), "docs/openapi.yaml lists routes the app lacks"
    assert ("/subscribers", "POST") in routed
    for path, item in OPENAPI["paths"].items():
        for method, operation in item.items():
            assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"


def test_the_token_cli_accepts_the_new_scopes(runner):
    args = ["api-token", "create", "crm"]
    for scope in ("subscribers:read", "subscribers:write", "campaigns:read", "campaigns:write"):
        args += ["--scope", scope]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    listed = runner.invoke(args=["api-token", "list"]).output
    assert "campaigns:read,campaigns:write,subscribers:read,subscribers:write" in listed


ENDPOINTS = [
    ("POST", "/api/v1/subscribers", api_tokens.WRITE_SUBSCRIBERS),
    ("GET", "/api/v1/subscribers", api_tokens.READ_SUBSCRIBERS),
    ("GET", "/api/v1/subscribers/abc", api_tokens.READ_SUBSCRIBERS),
    ("GET", "/api/v1/topics", api_tokens.READ_TOPICS),
    ("POST", "/api/v1/campaigns", api_tokens.WRITE_CAMPAIGNS),
    ("GET", "/api/v1/campaigns", api_tokens.READ_CAMPAIGNS),
    ("GET", "/api/v1/campaigns/1", api_tokens.READ_CAMPAIGNS),
    ("POST", "/api/v1/campaigns/1/send", api_tokens.WRITE_CAMPAIGNS),
]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_wants_a_token_with_its_scope(client, token, method, path, scope):
    other = token(api_tokens.READ_OBJECTIONS, name="other")
    make = token(scope, name="right")
    body = {"x": 1} if method == "POST" else None
    missing = client.open(path, method=method, json=body)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.open(path, method=method, json=body, headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401
    denied = client.open(path, method=method, json=body, headers=other)
    assert denied.status_code == 403
    assert scope in denied.json["error"]
    allowed = client.open(path, method=method, json=body, headers=make)
    assert allowed.status_code not in (401, 403)
    assert count(Subscriber) == 0
    assert count(Campaign) == 0


# --- POST /subscribers -------------------------------------------------------------------


@pytest.fixture
def app_config(app_config, request):
    if "smtp_server" in request.fixturenames:
        sink = request.getfixturevalue("smtp_server")
        return {**app_config, **sink.config(), "WTF_CSRF_ENABLED": True}
    return app_config


@pytest.mark.parametrize("locale", ["nl", "fr", "en"])
def test_api_signup_mails_the_confirmation_and_the_link_records_the_evidence(
    client, token, smtp_server, locale
):
    headers = token(api_tokens.WRITE_SUBSCRIBERS, api_tokens.READ_SUBSCRIBERS)
    body = signup_body(client, headers, email="Jan@Example.org", locale=locale)
    response = client.post("/api/v1/subscribers", json=body, headers=headers)
    assert response.status_code == 202
    assert_conforms(response, "/subscribers", "post")
    db.session.expire_all()
    assert db.session.scalar(select(Subscriber.status)) == SubscriberStatus.PENDING
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["jan@example.org"]
    with force_locale(locale):
        subject = gettext("Please confirm your subscription to %(org)s", org="Demo Shop")
    assert mail.message["Subject"] == subject
    path = confirm_path(mail.message)
    page = client.get(path).text
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post(path, data={"csrf_token": csrf}).status_code == 200

    found = client.get(
        "/api/v1/subscribers", query_string={"email": "JAN@example.org"}, headers=headers
    )
    assert_conforms(found, "/subscribers", "get")
    [person] = found.json["items"]
    assert person["status"] == "active"
    assert person["locale"] == locale
    assert person["topics"][0]["slug"] == "newsletter"
    assert person["topics"][0]["confirmed"] is True
    assert not {"ip", "user_agent", "source", "consent_events"} & set(person)
    events = db.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
    signup, confirm = [e for e in events if e.kind in ("signup", "confirm")]
    assert (signup.ip, signup.user_agent) == ("203.0.113.7", "Mozilla/5.0 (shop checkout)")
    assert signup.source.endswith(": checkout page")
    assert signup.source.startswith("api:")
    assert signup.consent_text_id == body["consent_text_id"]
    assert confirm.consent_text_id == body["consent_text_id"]
    assert confirm.detail["signup_event_id"] == signup.id
    assert confirm.consent_text.locale == locale


def test_api_signup_answers_the_same_whatever_the_address_state(
    client, token, make_subscriber, outbox
):
    headers = token(api_tokens.WRITE_SUBSCRIBERS)
    make_subscriber("active@example.org")
    gone = make_subscriber("gone@example.org")
    subscriptions.erase(gone, "unsubscribed", ["email"], subscriptions.Evidence("test"))
    db.session.commit()
    answers = []
    for address in ("new@example.org", "active@example.org", "gone@example.org"):
        response = client.post(
            "/api/v1/subscribers", json=signup_body(client, headers, email=address), headers=headers
        )
        answers.append((response.status_code, response.json))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 202
    assert sorted(str(m["To"]) for m in outbox()) == [
        "active@example.org",
        "gone@example.org",
        "new@example.org",
    ]
    assert count(Suppression) == 1  # lifted only by the confirmation


def test_api_signup_keeps_the_list_bombing_guard(client, token, outbox):
    headers = token(api_tokens.WRITE_SUBSCRIBERS)
    body = signup_body(client, headers, email="victim@example.org")
    statuses = [
        client.post("/api/v1/subscribers", json=body, headers=headers).status_code for _ in range(5)
    ]
    assert statuses == [202] * 5
    assert len(outbox("victim@example.org")) == 3  # NEWSLETTER_CONFIRM_MAILS_PER_ADDRESS


BAD_SIGNUPS = [
    ({"extra": 1}, "'extra'", False),
    ({"Email": "x@example.org"}, "'Email'", False),
    ({"email": None}, "'email'", False),
    ({"email": 42}, "'email'", False),
    ({"topics": "newsletter"}, "'topics'", False),
    ({"topics": [1]}, "'topics'", False),
    ({"topics": []}, "'topics'", False),
    ({"consent_text_id": "1"}, "'consent_text_id'", False),
    ({"consent_text_id": True}, "'consent_text_id'", False),
    ({"consent_text_id": 9999}, "'consent_text_id' 9999", True),
    ({"ip": "not an ip"}, "'ip'", True),
    ({"ip": 7}, "'ip'", False),
    ({"locale": "de"}, "'locale'", True),
    ({"topics": ["nope"]}, "'nope'", True),
    ({"email": "nope"}, "@-sign", True),
    ({"source": "   "}, "'source'", True),
    ({"source": "shop\u0000"}, "'source'", True),
    ({"topics": ["news\u0000"]}, "'topics'", True),
]


@pytest.mark.parametrize(("change", "named", "schema_valid"), BAD_SIGNUPS)
def test_bad_signup_bodies_are_400_naming_the_field_and_record_nothing(
    client, token, outbox, change, named, schema_valid
):
    headers = token(api_tokens.WRITE_SUBSCRIBERS)
    body = {**signup_body(client, headers), **change}
    validator = jsonschema.Draft202012Validator(request_schema("SignupRequest"))
    assert validator.is_valid(body) == schema_valid
    response = client.post("/api/v1/subscribers", json=body, headers=headers)
    assert response.status_code == 400
    assert_conforms(response, "/subscribers", "post")
    assert named in response.json["error"]
    assert count(Subscriber) == 0
    assert count(ConsentEvent) == 0
    assert count(OutboxMessage) == 0


@pytest.mark.parametrize("field", ["email", "topics", "consent_text_id", "source"])
def test_signup_without_a_required_field_is_400_naming_it(client, token, field):
    headers = token(api_tokens.WRITE_SUBSCRIBERS)
    body = signup_body(client, headers)
    del body[field]
    response = client.post("/api/v1/subscribers", json=body, headers=headers)
    assert response.status_code == 400
    assert f"'{field}'" in response.json["error"]
    assert count(Subscriber) == 0


def test_consent_text_of_another_language_or_an_older_version_is_refused(client, token):
    headers = token(api_tokens.WRITE_SUBSCRIBERS)
    french = consent_text_id(client, headers, "fr")
    old = consent_text_id(client, headers, "nl")
    subscriptions.add_consent_text("Ja, stuur mij de nieuwsbrief (versie 2).", "nl")
    db.session.commit()
    for claimed, locale in ((french, "nl"), (old, "nl")):
        body = {**signup_body(client, headers, locale=locale), "consent_text_id": claimed}
        response = client.post("/api/v1/subscribers", json=body, headers=headers)
        assert response.status_code == 400
        assert f"'consent_text_id' {claimed}" in response.json["error"]
        assert "'nl'" in response.json["error"]
    assert count(Subscriber) == 0


# --- reading subscribers and topics --------------------------------------------------------


def test_subscribers_are_read_paged_filtered_and_by_public_id(client, token, make_subscriber):
    headers = token(api_tokens.READ_SUBSCRIBERS)
    people = [make_subscriber(f"p{i}@example.org") for i in range(5)]
    make_subscriber("wait@example.org", status=SubscriberStatus.PENDING)
    first = client.get("/api/v1/subscribers?per_page=2", headers=headers)
    assert_conforms(first, "/subscribers", "get")
    assert (first.json["total"], first.json["pages"], len(first.json["items"])) == (6, 3, 2)
    third = client.get("/api/v1/subscribers?per_page=2&page=3", headers=headers).json
    assert [p["email"] for p in third["items"]] == ["p4@example.org", "wait@example.org"]
    pending = client.get("/api/v1/subscribers?status=pending", headers=headers).json
    assert [p["email"] for p in pending["items"]] == ["wait@example.org"]
    one = client.get(f"/api/v1/subscribers/{people[1].public_id}", headers=headers)
    assert_conforms(one, "/subscribers/{id}", "get")
    assert one.json["email"] == "p1@example.org"
    nobody = client.get("/api/v1/subscribers/not-an-id", headers=headers)
    assert nobody.status_code == 404
    assert_conforms(nobody, "/subscribers/{id}", "get")
    unknown = client.get("/api/v1/subscribers?mail=p1@example.org", headers=headers)
    assert unknown.status_code == 400
    assert "'mail'" in unknown.json["error"]
    for query in ("status=gone", "page=0", "per_page=500", "page=x", "topic=nope", "email=x"):
        bad = client.get(f"/api/v1/subscribers?{query}", headers=headers)
        assert bad.status_code == 400, query
        assert_conforms(bad, "/subscribers", "get")
    missing = client.get("/api/v1/subscribers?email=nobody@example.org", headers=headers)
    assert missing.json["items"] == []


def test_topics_list_the_slugs_and_current_consent_texts(client, token, make_topic):
    make_topic("offers", "Offers")
    response = client.get("/api/v1/topics", headers=token(api_tokens.READ_CAMPAIGNS))
    assert response.status_code == 200
    assert_conforms(response, "/topics", "get")
    assert [t["slug"] for t in response.json["topics"]] == ["newsletter", "offers"]
    assert set(response.json["consent_texts"]) == {"nl", "fr", "en"}
    extra = client.get("/api/v1/topics?x=1", headers=token(api_tokens.READ_TOPICS, name="tt"))
    assert extra.status_code == 400


# --- campaigns -----------------------------------------------------------------------------


def test_campaign_is_created_sent_and_followed_through_the_api(
    client, token, runner, make_subscriber
):
    make_subscriber("ann@example.org")
    writer = token(api_tokens.WRITE_CAMPAIGNS, name="writer")
    reader = token(api_tokens.READ_CAMPAIGNS, name="reader")
    created = client.post(
        "/api/v1/campaigns",
        json={"subject": "Spring news", "body": "Hello **there**.", "topic": "newsletter"},
        headers=writer,
    )
    assert created.status_code == 201
    assert_conforms(created, "/campaigns", "post")
    assert created.json["status"] == "draft"
    location = created.headers["Location"]
    assert location.endswith(f"/api/v1/campaigns/{created.json['id']}")
    assert client.get(location, headers=writer).status_code == 403
    sent = client.post(f"{location}/send", headers=writer)
    assert sent.status_code == 202
    assert_conforms(sent, "/campaigns/{id}/send", "post")
    assert (sent.json["status"], sent.json["total"]) == ("sending", 1)
    assert runner.invoke(args=["jobs", "run-due"]).exit_code == 0
    status = client.get(location, headers=reader)
    assert_conforms(status, "/campaigns/{id}", "get")
    assert (status.json["status"], status.json["sent"]) == ("sent", 1)
    again = client.post(f"{location}/send", json={}, headers=writer)
    assert again.status_code == 409
    assert_conforms(again, "/campaigns/{id}/send", "post")
    assert "sent" in again.json["error"]
    listing = client.get("/api/v1/campaigns?status=sent", headers=reader)
    assert_conforms(listing, "/campaigns", "get")
    assert [c["id"] for c in listing.json["items"]] == [created.json["id"]]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"subject": "S", "body": "B"}, "'topic'"),
        ({"subject": "S", "body": "B", "topic": "nope"}, "'nope'"),
        ({"subject": "S", "body": "B", "topic": "newsletter", "locale": "nl"}, "'locale'"),
        ({"subject": 3, "body": "B", "topic": "newsletter"}, "'subject'"),
        ({"subject": "  ", "body": "B", "topic": "newsletter"}, "subject is required"),
    ],
)
def test_bad_campaign_bodies_are_400_and_create_nothing(client, token, body, named):
    response = client.post(
        "/api/v1/campaigns", json=body, headers=token(api_tokens.WRITE_CAMPAIGNS)
    )
    assert response.status_code == 400
    assert_conforms(response, "/campaigns", "post")
    assert named in response.json["error"]
    assert count(Campaign) == 0


def test_send_of_an_unknown_campaign_or_with_a_body_is_refused(client, token, make_campaign):
    headers = token(api_tokens.WRITE_CAMPAIGNS, api_tokens.READ_CAMPAIGNS)
    campaign = make_campaign()
    missing = client.post("/api/v1/campaigns/999/send", headers=headers)
    assert missing.status_code == 404
    assert_conforms(missing, "/campaigns/{id}/send", "post")
    assert client.get("/api/v1/campaigns/999", headers=headers).status_code == 404
    extra = client.post(f"/api/v1/campaigns/{campaign.id}/send", json={"at": "x"}, headers=headers)
    assert extra.status_code == 400
    assert "'at'" in extra.json["error"]
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == "draft"
