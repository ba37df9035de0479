"""Shared fixtures: a fresh database per test, on SQLite or PostgreSQL.

Set NEWSLETTER_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test to run the
whole suite on PostgreSQL: a private database is created next to `test` for the run
(so parallel runs never meet), tables are created once, and emptied before each test.
Without it every test gets its own SQLite file.
"""

from __future__ import annotations

import email
import email.policy
import functools
import inspect
import re
import threading
from datetime import datetime

import pytest
from sqlalchemy import select, text
from werkzeug.serving import make_server

from newsletter import campaigns, create_app, subscriptions
from newsletter.clock import utcnow
from newsletter.defaults import default_rows
from newsletter.extensions import db
from newsletter.models import (
    Basis,
    Campaign,
    ImportEvidence,
    OutboxMessage,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)
from tests.helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BASE_URL,
    PG_URL,
    free_port,
    private_postgres_database,
)


@pytest.fixture(scope="session")
def postgres_url():
    """A private PostgreSQL database for this test run (None when testing on SQLite)."""
    if not PG_URL:
        yield None
        return
    with private_postgres_database("nl_test") as url:
        yield url


@pytest.fixture
def empty_database_url(tmp_path):
    """An empty database of the kind under test (a new SQLite file, or a new private
    PostgreSQL database), for the tests that run the migrations themselves."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with private_postgres_database("nl_empty") as url:
        yield url


_pg_schema_ready: set[str] = set()


def _reset_schema(url: str | None) -> None:
    engine = db.engine
    if url is None:
        db.create_all()
    elif url not in _pg_schema_ready:
        db.drop_all()
        db.create_all()
        _pg_schema_ready.add(url)
    else:
        names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    now = utcnow().replace(tzinfo=None)
    with engine.begin() as connection:
        for table_name, rows in default_rows(now).items():
            connection.execute(db.metadata.tables[table_name].insert(), rows)


@pytest.fixture
def app_config(tmp_path, postgres_url):
    """The configuration overrides of the test app (a test may change them first)."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": postgres_url or f"sqlite:///{tmp_path / 'test.db'}",
        "AUTO_UPGRADE_SQLITE": False,
        "BASE_URL": BASE_URL,
        "MAIL_SERVER": None,
        "MAIL_DEFAULT_SENDER": "Demo Shop <news@shop.example>",
        "ORGANIZATION_NAME": "Demo Shop",
        "ORGANIZATION_ADDRESS": "Rue de l'Exemple 1, 1000 Brussels",
        "RATELIMIT_STORAGE_URI": "memory://",
        # Form posts in unit tests skip CSRF; tests/test_admin_csrf.py,
        # tests/test_csrf_origin.py and the browser tests (`-m browser`) run with it on.
        "WTF_CSRF_ENABLED": False,
    }


@pytest.fixture
def app(app_config, postgres_url):
    """The application with a fresh database holding a new installation's rows."""
    application = create_app(app_config)
    with application.app_context():
        _reset_schema(postgres_url)
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def outbox(app):
    """Read mail from the built-in outbox, parsed: `outbox()` -> list of EmailMessage."""

    def read(recipient: str | None = None):
        db.session.expire_all()
        rows = db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id))
        messages = [email.message_from_bytes(row.raw, policy=email.policy.default) for row in rows]
        if recipient:
            messages = [m for m in messages if recipient in str(m["To"])]
        return messages

    return read


@pytest.fixture
def make_topic(app):
    def make(
        slug: str,
        name: str | None = None,
        own_similar_products: bool = False,
        product_range: str | None = None,
    ) -> Topic:
        # An own-similar-products topic has its product range written down (issue 13).
        if product_range is None:
            product_range = "Garden tools and plants" if own_similar_products else ""
        topic = Topic(
            slug=slug,
            name=name or slug.title(),
            own_similar_products=own_similar_products,
            product_range=product_range,
        )
        db.session.add(topic)
        db.session.commit()
        return topic

    return make


@pytest.fixture
def make_campaign(app):
    """`make_campaign(...)`: a draft campaign on a topic (the seeded newsletter), committed."""

    def make(
        *,
        subject: str = "Spring news",
        body: str = "Hello **there**.",
        topic_slug="newsletter",
        **kw,
    ) -> Campaign:
        topic = db.session.scalar(select(Topic).where(Topic.slug == topic_slug))
        campaign = campaigns.create_campaign(subject, body, topic, **kw)
        db.session.commit()
        return campaign

    return make


@pytest.fixture
def make_subscriber(app):
    """Create a subscriber directly (bypassing the journey), committed, with the consent
    evidence the journey would have left: for basis consent a "signup" event with the
    current consent text of their language and, once confirmed, its "confirm" event; for
    basis existing-customer the "import" event and its ImportEvidence (the only way such a
    subscriber arrives). `evidence=False` leaves the record empty, for a test about a
    subscriber whose evidence is missing (e.g. written before evidence was kept)."""

    def make(
        email_address: str = "ann@example.org",
        topics: tuple[str, ...] = ("newsletter",),
        status: str = SubscriberStatus.ACTIVE,
        basis: str = Basis.CONSENT,
        consented_at: datetime | None = None,
        purchased_at: datetime | None = None,
        name: str | None = None,
        evidence: bool = True,
    ) -> Subscriber:
        now = utcnow()
        confirmed = now if status == SubscriberStatus.ACTIVE else None
        subscriber = Subscriber(
            email=email_address.lower(),
            name=name,
            status=status,
            confirmed_at=confirmed,
            consented_at=consented_at or confirmed,
            purchased_at=purchased_at,
        )
        chosen = subscriptions.topics_by_slug(list(topics))
        for topic in chosen:
            subscriber.subscriptions.append(
                Subscription(topic=topic, basis=basis, confirmed_at=confirmed)
            )
        db.session.add(subscriber)
        db.session.flush()
        if evidence:
            _record_evidence(subscriber, chosen, basis, consented_at or now, purchased_at or now)
        db.session.commit()
        return subscriber

    return make


def _record_evidence(subscriber, topics, basis, consented_at, purchased_at) -> None:
    """The consent events the real journey records for such a subscriber."""
    slugs = [t.slug for t in topics]
    if basis == Basis.EXISTING_CUSTOMER:
        event = subscriptions.record_event(
            subscriber,
            "import",
            subscriptions.Evidence(source="import: customers.csv"),
            topics=slugs,
            basis=basis,
            detail={"evidence": "purchased_at", "evidence_date": purchased_at.isoformat()},
        )
        event.occurred_at = purchased_at
        db.session.add(
            ImportEvidence(
                consent_event_id=event.id,
                basis=basis,
                given_at=purchased_at,
                optout_offered="an opt-out box at checkout",
                declared_by=ADMIN_EMAIL,
            )
        )
        return
    text = subscriptions.displayed_consent_text(subscriber.locale)
    fields = {
        "consent_text_id": text.id,
        "topics": slugs,
        "topic_wording": subscriptions.topic_wording(topics),
        "basis": basis,
    }
    web_form = subscriptions.Evidence(source="web form", ip="192.0.2.10", user_agent="Firefox")
    signup = subscriptions.record_event(subscriber, "signup", web_form, **fields)
    signup.occurred_at = consented_at
    if subscriber.confirmed_at is not None:
        detail = {"signup_event_id": signup.id, "method": "double opt-in link"}
        confirm = subscriptions.record_event(
            subscriber, "confirm", web_form, detail=detail, **fields
        )
        confirm.occurred_at = consented_at


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback; see tests/smtp_sink.py."""
    from tests.smtp_sink import SmtpSink

    sink = SmtpSink(port=free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def live_app_config(app_config):
    """Configuration for a test served over HTTP to a real browser (CSRF on)."""
    port = free_port()
    return {**app_config, "WTF_CSRF_ENABLED": True, "BASE_URL": f"http://127.0.0.1:{port}"}


@pytest.fixture
def live_server(app):
    """Serve the test app on loopback (needs the `live_app_config` override); yields BASE_URL."""
    port = int(app.config["BASE_URL"].rsplit(":", 1)[1])
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app.config["BASE_URL"]
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page():
    """A page in Debian's chromium, driven by Playwright."""
    from tests.live import browser_page

    with browser_page() as new_page:
        yield new_page


# --- admin ---


@pytest.fixture(scope="session")
def admin_password_hash():
    """The argon2 hash of ADMIN_PASSWORD, computed once per run (hashing is slow on purpose)."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(ADMIN_PASSWORD)


@pytest.fixture
def admin_user(app, admin_password_hash):
    """An admin account (ADMIN_EMAIL / ADMIN_PASSWORD), committed."""
    from newsletter.models import AdminUser

    user = AdminUser(email=ADMIN_EMAIL, password_hash=admin_password_hash)
    db.session.add(user)
    db.session.commit()
    return user


@pytest.fixture
def admin_client(app, admin_user):
    """A test client with a logged-in admin session."""
    test_client = app.test_client()
    with test_client.session_transaction() as session:
        session["_user_id"] = str(admin_user.id)
        session["_fresh"] = True
    return test_client


# --- slices: `pytest -m browser`, `-m smtp`, `-m postgres` (markers in pyproject.toml) ---

# What a test (or a fixture it uses, or a helper of its module it calls) does to need the
# slice. Read from the code so that a new test is sliced without anyone remembering to.
_BROWSER_CODE = re.compile(r"browser_page\(|sync_playwright|\.chromium\.launch")
_SMTP_CODE = re.compile(
    r"SmtpSink|FaultSink|aiosmtpd|Controller\(|smtplib\.SMTP(_SSL)?\(|PostfixInstance|EchoSink|SinkProcess"
)
# A skip taken when the database is not PostgreSQL: the test means something there only.
_POSTGRES_ONLY_CODE = re.compile(
    r"if (not PG_URL|postgres_url is None|[^\n]*!= \"postgresql\"|"
    r"not [^\n]*startswith\(\"postgresql\"\)):\s*\n\s*pytest\.skip\("
)


def _source(function) -> str:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


@functools.cache
def _code_of(function) -> str:
    """The function's source and that of the functions of its module it calls by name."""
    function = inspect.unwrap(function)
    parts = [_source(function)]
    module_globals = getattr(function, "__globals__", {})
    for name in getattr(getattr(function, "__code__", None), "co_names", ()):
        called = module_globals.get(name)
        if inspect.isfunction(called) and called.__module__ == function.__module__:
            parts.append(_source(called))
    return "\n".join(parts)


def _slices(item) -> set[str]:
    if "tests/e2e/" in item.path.as_posix():
        return {"e2e", "browser", "smtp"}
    codes = [_code_of(item.function)] if hasattr(item, "function") else []
    for definitions in item._fixtureinfo.name2fixturedefs.values():
        codes += [_code_of(d.func) for d in definitions]
    code = "\n".join(codes)
    found = set()
    if _BROWSER_CODE.search(code):
        found.add("browser")
    if _SMTP_CODE.search(code) or item.get_closest_marker("postfix"):
        found.add("smtp")
    params = set(map(str, getattr(getattr(item, "callspec", None), "params", {}).values()))
    if "postgresql" in params or ("sqlite" not in params and _POSTGRES_ONLY_CODE.search(code)):
        found.add("postgres")
    return found


def pytest_collection_modifyitems(config, items):
    """Mark each test with the slices it belongs to (see README "Test it")."""
    for item in items:
        for name in sorted(_slices(item) - {m.name for m in item.iter_markers()}):
            item.add_marker(getattr(pytest.mark, name))
