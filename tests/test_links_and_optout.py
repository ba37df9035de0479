"""Signed links, preferences, the consolidated opt-out and what it leaves behind."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from newsletter import create_app, links, tokens
from newsletter.addresses import address_hash
from newsletter.clock import frozen, utcnow
from newsletter.extensions import db
from newsletter.models import Channel, ConsentEvent, Subscriber, Suppression
from tests.helpers import confirm_path, links_in, mail_text, save_preferences, signup

ADDRESS = "erase.me@example.org"


def _journey(client, outbox, email=ADDRESS) -> Subscriber:
    signup(client, email)
    client.post(confirm_path(outbox(email)[-1]))
    return db.session.scalar(select(Subscriber).where(Subscriber.email == email))


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


@pytest.mark.parametrize(
    "route",
    ["/confirm/{}", "/preferences/{}", "/unsubscribe/{}"],
)
@pytest.mark.parametrize("token", ["garbage", "a.b.c", "%00%0d%0a", "x" * 3000, "Ij"])
def test_bad_tokens_get_a_clear_400_page(client, route, token):
    response = client.get(route.format(token))
    assert response.status_code == 400
    assert "This link is not valid" in response.text


def test_tampered_token_is_rejected(client, make_subscriber):
    subscriber = make_subscriber()
    good = links.preferences_url(subscriber.public_id)
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    assert client.get(_path(good)).status_code == 200
    assert client.get(_path(tampered)).status_code == 400


def test_token_of_another_purpose_is_rejected(client, make_subscriber):
    subscriber = make_subscriber()
    unsubscribe_token = tokens.sign(tokens.UNSUBSCRIBE, subscriber.public_id)
    assert client.get(f"/preferences/{unsubscribe_token}").status_code == 400


def test_expired_confirmation_link_gets_410_and_offers_a_new_one(client, outbox):
    signup(client)
    path = confirm_path(outbox()[0])
    with frozen(utcnow() + timedelta(hours=49)):
        response = client.get(path)
        assert response.status_code == 410
        assert "Send me a new link" in response.text
        assert client.post(path).status_code == 410  # cannot confirm with it either
        resend = client.post(path + "/resend")
        assert resend.status_code == 200
        assert "Check your inbox" in resend.text
        assert len(outbox()) == 2
        assert client.post(confirm_path(outbox()[1])).status_code == 200


def test_links_of_gone_subscribers_get_404_page(client, outbox):
    subscriber = _journey(client, outbox)
    preferences = _path(links.preferences_url(subscriber.public_id))
    client.post(_path(links.unsubscribe_url(subscriber.public_id)))
    response = client.get(preferences)
    assert response.status_code == 404
    assert "You are not subscribed" in response.text


def test_preferences_save_topics_and_none_left_is_full_opt_out(client, outbox, make_topic):
    make_topic("events", "Events")
    subscriber = _journey(client, outbox)
    path = _path(links.preferences_url(subscriber.public_id))
    page = client.get(path)
    assert (
        '<input checked id="topics-0" name="topics" type="checkbox" value="newsletter">'
        in page.text
    )
    assert "Unsubscribe from all" in page.text
    assert "Download my data" in page.text
    save_preferences(client, path, ["newsletter", "events"])
    db.session.expire_all()
    assert sorted(s.topic.slug for s in subscriber.subscriptions) == ["events", "newsletter"]
    response = client.post(path, data={})
    assert "You are unsubscribed" in response.text
    assert db.session.scalar(select(Subscriber)) is None


def test_download_my_data_is_json_with_consent_events(client, outbox):
    subscriber = _journey(client, outbox)
    response = client.post(_path(links.preferences_url(subscriber.public_id)) + "/export")
    assert "We have mailed you a link" in response.text  # the data go only to the address
    [mail] = [m for m in outbox(ADDRESS) if "/export/" in str(m.get_body())]
    export_path = _path(next(u for u in links_in(mail_text(mail)) if "/export/" in u))
    response = client.post(export_path)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = json.loads(response.data)
    assert data["email"] == ADDRESS
    assert [e["kind"] for e in data["consent_events"]] == ["signup", "confirm"]


def test_one_click_unsubscribe_without_cookie_or_csrf_answers_200(app, outbox):
    app.config["WTF_CSRF_ENABLED"] = True
    browser = app.test_client()
    signup_page = browser.get("/subscribe").text
    token = signup_page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    browser.post(
        "/subscribe",
        data={
            "email": ADDRESS,
            "topics": ["newsletter"],
            "consent": "y",
            "consent_text_id": "1",
            "csrf_token": token,
        },
    )
    confirm = confirm_path(outbox()[0])
    page = browser.get(confirm).text
    csrf = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    browser.post(confirm, data={"csrf_token": csrf})
    subscriber = db.session.scalar(select(Subscriber))
    mail_client = app.test_client()  # a mailbox provider: no cookie, no CSRF token
    path = _path(links.unsubscribe_url(subscriber.public_id))
    first = mail_client.post(path, data={"List-Unsubscribe": "One-Click"})
    second = mail_client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert first.status_code == second.status_code == 200
    assert "Location" not in first.headers
    assert db.session.scalar(select(Subscriber)) is None


def test_unsubscribe_get_changes_nothing(client, outbox):
    subscriber = _journey(client, outbox)
    response = client.get(_path(links.unsubscribe_url(subscriber.public_id)))
    assert response.status_code == 200
    assert '<form method="post"' in response.text
    assert db.session.scalar(select(Subscriber)) is not None


def test_opt_out_purges_the_address_from_every_table(client, outbox, app):
    subscriber = _journey(client, outbox)
    client.post(_path(links.unsubscribe_url(subscriber.public_id)))
    db.session.expire_all()
    found = []
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                if any(ADDRESS in str(value) for value in row):
                    found.append(table.name)
    assert found == []
    digest = address_hash(ADDRESS)
    channels = db.session.scalars(
        select(Suppression.channel).where(Suppression.address_hash == digest)
    )
    assert sorted(channels) == sorted(Channel.ALL)
    events = db.session.scalars(
        select(ConsentEvent).where(ConsentEvent.subject_hash == digest)
    ).all()
    assert [e.kind for e in events] == ["signup", "confirm", "erase"]
    assert all(e.subscriber_id is None for e in events)


def test_opt_out_leaves_no_address_bytes_in_the_sqlite_file(client, outbox, app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the file-bytes guarantee is SQLite's (PostgreSQL: see docs)")
    subscriber = _journey(client, outbox)
    db_file = Path(db.engine.url.database)
    files = [db_file, Path(f"{db_file}-wal")]
    assert any(ADDRESS.encode() in f.read_bytes() for f in files if f.exists())
    client.post(_path(links.unsubscribe_url(subscriber.public_id)))
    db.session.remove()
    for file in files:
        if file.exists():
            assert ADDRESS.encode() not in file.read_bytes(), file.name


def test_suppression_hash_survives_secret_key_rotation(app_config, client, outbox):
    subscriber = _journey(client, outbox)
    client.post(_path(links.unsubscribe_url(subscriber.public_id)))
    digest = address_hash(ADDRESS)
    rotated = create_app({**app_config, "SECRET_KEY": "new-key", "SECRET_KEY_FALLBACKS": []})
    with rotated.app_context():
        assert address_hash(ADDRESS) == digest
        assert db.session.scalar(select(Suppression.id).where(Suppression.address_hash == digest))
        db.session.remove()
        db.engine.dispose()


def test_old_links_survive_secret_key_rotation(app_config, make_subscriber):
    subscriber = make_subscriber()
    old_unsubscribe = _path(links.unsubscribe_url(subscriber.public_id))
    old_preferences = _path(links.preferences_url(subscriber.public_id))
    rotated = create_app(
        {**app_config, "SECRET_KEY": "brand-new-key", "SECRET_KEY_FALLBACKS": ["test-secret-key"]}
    )
    with rotated.app_context():
        client = rotated.test_client()
        assert client.get(old_preferences).status_code == 200
        assert client.get(old_unsubscribe).status_code == 200
        assert _path(links.preferences_url(subscriber.public_id)) != old_preferences
        db.session.remove()
        db.engine.dispose()
    dropped = create_app({**app_config, "SECRET_KEY": "brand-new-key"})
    with dropped.app_context():
        assert dropped.test_client().get(old_preferences).status_code == 400
        db.session.remove()
        db.engine.dispose()


def test_suppressed_person_may_come_back_through_double_opt_in(client, outbox):
    subscriber = _journey(client, outbox)
    client.post(_path(links.unsubscribe_url(subscriber.public_id)))
    again = _journey(client, outbox)
    assert again.status == "active"
    digest = address_hash(ADDRESS)
    channels = db.session.scalars(
        select(Suppression.channel).where(Suppression.address_hash == digest)
    )
    assert Channel.EMAIL not in set(channels)


def test_no_table_stores_the_address_outside_the_known_columns(app):
    # Guard for future tables: personal addresses live only where erase() cleans.
    columns = {
        (table, column["name"])
        for table in inspect(db.engine).get_table_names()
        for column in inspect(db.engine).get_columns(table)
        if column["name"] in ("email", "recipient", "address")
    }
    assert columns <= {
        ("subscriber", "email"),
        ("outbox_message", "recipient"),
        ("admin_user", "email"),
    }
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def test_link_tokens_are_itsdangerous_tokens_under_the_current_key(app):
    """The sender's prepared signer makes exactly the tokens `URLSafeSerializer` makes,
    and follows a change of SECRET_KEY."""
    from itsdangerous import URLSafeSerializer

    def reference(purpose: str, payload: str) -> str:
        keys = [*app.config["SECRET_KEY_FALLBACKS"], app.config["SECRET_KEY"]]
        serializer = URLSafeSerializer(
            keys, salt=f"newsletter.{purpose}", signer_kwargs={"digest_method": hashlib.sha256}
        )
        return serializer.dumps(payload)

    for purpose in (tokens.UNSUBSCRIBE, tokens.PREFERENCES, tokens.BOUNCE):
        assert tokens.sign(purpose, "abc") == reference(purpose, "abc")
    before = tokens.sign(tokens.UNSUBSCRIBE, "abc")
    app.config["SECRET_KEY"] = "another-key"
    after = tokens.sign(tokens.UNSUBSCRIBE, "abc")
    assert after != before
    assert after == reference(tokens.UNSUBSCRIBE, "abc")
    assert tokens.verify(tokens.UNSUBSCRIBE, after) == "abc"
