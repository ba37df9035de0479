"""Small helpers shared by tests (import them from here; conftest.py holds only fixtures)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("NEWSLETTER_TEST_DATABASE_URL")
BASE_URL = "https://news.example.test"
ADMIN_EMAIL = "boss@shop.example"
ADMIN_PASSWORD = "correct horse battery staple"


@contextlib.contextmanager
def private_postgres_database(prefix: str):
    """A new, empty PostgreSQL database beside PG_URL's, dropped afterwards; yields its URL."""
    base = make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def aware(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def mail_text(message) -> str:
    """The plain-text part of a message."""
    return message.get_body(preferencelist=("plain",)).get_content()


def mail_html(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>]+", text)


def confirm_path(message) -> str:
    """The path of the confirmation link in a confirmation mail."""
    for link in links_in(mail_text(message)):
        if "/confirm/" in link:
            return urlsplit(link).path
    raise AssertionError("no confirmation link in the mail")


def shown_consent_text_id(page: str) -> str:
    """The consent text id a page carries in its form (the text it shows)."""
    return re.search(r'name="consent_text_id" value="(\d+)"', page).group(1)


def signup(
    client, email="ann@example.org", topics=("newsletter",), consent=True, headers=None, **extra
):
    """Post the signup form as a browser does: with the consent text the form page showed
    in the same language (the server records only the text it shows)."""
    data = {"email": email, "topics": list(topics), **extra}
    if "consent_text_id" not in data:
        page = client.get("/subscribe", headers=headers or {}).text
        data["consent_text_id"] = shown_consent_text_id(page)
    if consent:
        data["consent"] = "y"
    return client.post("/subscribe", data=data, headers=headers or {})


def save_preferences(client, path: str, topics, consent: bool = True, **kw):
    """Post the preferences form as a browser does: the lists, and for a list added the
    ticked box beside the consent text the page showed."""
    data = {"topics": list(topics), "consent_text_id": shown_consent_text_id(client.get(path).text)}
    if consent:
        data["consent"] = "y"
    return client.post(path, data=data, **kw)


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
