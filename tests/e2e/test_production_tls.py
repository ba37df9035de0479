"""README's production shape: gunicorn serving TLS, an https BASE_URL, a real SMTP server,
two `flask worker` processes, and people in a real browser in English, Dutch and French.

Configured as README's "Deploying" section says, through NEWSLETTER_* variables only:
a secret key, the database (a SQLite file shared by gunicorn and both workers, or a
private PostgreSQL database when NEWSLETTER_TEST_DATABASE_URL is set), `flask db upgrade`
first, the SMTP server (aiosmtpd on loopback) and an https BASE_URL. gunicorn terminates
TLS itself with a self-signed certificate made for the test; Chromium is told to accept
that certificate (ignore_https_errors) — the one thing a real certificate would do
differently, and nothing the application sees. CSRF, the security headers and the rate
limits are the product's own.

Each person signs up in their language, confirms from the mail the SMTP server received,
saves their preferences and downloads their data; the owner signs in to the admin and
sends a campaign to the three; each receives exactly one message, with the footer in
their language. (TLS ending at a proxy in front of the app is another test's shape.)
"""

from __future__ import annotations

import secrets
import time

import pytest

from tests.e2e import steps
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    LANGUAGE,
    browser_context,
    flask_command,
    gunicorn_command,
    html_lang,
    link_to,
    links,
    parse_mail,
    readable,
    requires_chromium,
    wait_for_log,
    wait_until_serving,
)
from tests.helpers import PG_URL, free_port, private_postgres_database
from tests.tls import self_signed_certificate

pytestmark = [pytest.mark.e2e, requires_chromium]

PEOPLE = {
    "en": "emma.smith@example.org",
    "nl": "jan.janssens@example.be",
    "fr": "chloe.dubois@example.be",
}
SUBJECT = "Spring collection 2025"
BODY = (
    "# Spring is here\n\nOur **spring collection** arrived: linen shirts and mugs from the "
    "workshop in Ghent. [The catalogue](https://shop.example/spring)."
)
MAIL_SECONDS = 20


@pytest.fixture
def database_url(tmp_path):
    """The deployment's database: PostgreSQL when the suite runs on it, else a SQLite file."""
    if PG_URL:
        with private_postgres_database("nl_e2e") as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'newsletter.db'}"


def mail_to(sink, address: str, subject_part: str, timeout: float = MAIL_SECONDS):
    """The messages the SMTP server received for `address` whose subject has `subject_part`,
    once at least one has arrived (waiting at most `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            parse_mail(m.raw)
            for m in list(sink.messages)
            if address in m.rcpt_tos and subject_part in str(parse_mail(m.raw)["Subject"])
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


def test_gunicorn_tls_two_workers_smtp_three_languages(
    processes, browser, shots, smtp_server, database_url, tmp_path
):
    port = free_port()
    base_url = f"https://127.0.0.1:{port}"
    cert, key = self_signed_certificate(tmp_path, "127.0.0.1")
    processes.env.update(
        {
            "FLASK_APP": "app.py",
            "NEWSLETTER_SECRET_KEY": secrets.token_hex(32),
            "NEWSLETTER_SQLALCHEMY_DATABASE_URI": database_url,
            "NEWSLETTER_BASE_URL": base_url,
            "NEWSLETTER_MAIL_SERVER": smtp_server.host,
            "NEWSLETTER_MAIL_PORT": str(smtp_server.port),
            "NEWSLETTER_MAIL_DEFAULT_SENDER": "Demo Shop <news@shop.example>",
            "NEWSLETTER_ORGANIZATION_NAME": "Demo Shop",
            "NEWSLETTER_ORGANIZATION_ADDRESS": "Veldstraat 1, 9000 Gent, België",
        }
    )
    processes.run([*flask_command(), "db", "upgrade"])  # README: once per release
    processes.run([*flask_command(), "admin", "create", ADMIN_EMAIL], stdin=ADMIN_PASSWORD + "\n")
    web = processes.start(
        "gunicorn",
        [
            *gunicorn_command(),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--certfile",
            str(cert),
            "--keyfile",
            str(key),
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
            "app:app",
        ],
    )
    workers = [processes.start(f"worker-{n}", [*flask_command(), "worker"]) for n in (1, 2)]
    wait_until_serving(web, f"{base_url}/subscribe")
    for worker in workers:
        wait_for_log(worker, "worker started")

    # Three people sign up, each in their own language, over https with CSRF on.
    for language, address in PEOPLE.items():
        page = browser_context(browser, language, ignore_https_errors=True).new_page()
        steps.sign_up(page, base_url, address, language, shots)
        confirmation = mail_to(smtp_server, address, "")
        assert confirmation, f"no confirmation mail reached the SMTP server for {address}"
        assert html_lang(confirmation[0]) == language, f"the confirmation mail is not in {language}"
        confirm_url = link_to(readable(confirmation[0]), "/confirm/")
        assert confirm_url.startswith(f"{base_url}/confirm/")
        steps.confirm(page, confirm_url, language, shots)
        words = LANGUAGE[language]

        def mailed_link(address=address, words=words):
            [mail] = mail_to(smtp_server, address, words["data_mail"])
            return link_to(readable(mail), "/export/")

        steps.preferences_and_download(page, address, language, shots, mailed_link)
        page.context.close()

    # The owner signs in and sends a campaign to the three.
    owner = browser_context(browser, "en", ignore_https_errors=True).new_page()
    steps.admin_sign_in(owner, base_url, shots)
    steps.send_campaign(owner, SUBJECT, BODY, recipients=len(PEOPLE), shots=shots)
    counts = steps.watch_progress(owner, len(PEOPLE), shots)

    # Each receives exactly one message, in their language, its links on the https site.
    problems = []
    for language, address in PEOPLE.items():
        received = mail_to(smtp_server, address, SUBJECT, timeout=5)
        if len(received) != 1:
            problems.append(f"{language}: {address} received {len(received)} campaign messages")
            continue
        [message] = received
        text = readable(message)
        if LANGUAGE[language]["reason"] not in text:
            problems.append(f"{language}: the footer does not say why in {language}")
        if LANGUAGE[language]["unsubscribe"] not in text:
            problems.append(f"{language}: no '{LANGUAGE[language]['unsubscribe']}' link")
        if language != "en" and LANGUAGE["en"]["reason"] in text:
            problems.append(f"{language}: the footer is (also) in English")
        if html_lang(message) != language:
            problems.append(f"{language}: <html lang={html_lang(message)!r}>")
        if "spring collection" not in text:
            problems.append(f"{language}: the campaign's text is missing")
        own = [u for u in links(text) if "127.0.0.1" in u]
        if not own or any(not u.startswith(base_url + "/") for u in own):
            problems.append(f"{language}: links not on {base_url}: {own}")
        if f"<{base_url}/unsubscribe/" not in str(message["List-Unsubscribe"]):
            problems.append(f"{language}: List-Unsubscribe is {message['List-Unsubscribe']!r}")
        if message["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click":
            problems.append(f"{language}: no one-click List-Unsubscribe-Post")
    assert not problems, f"campaign delivery (progress page: {counts}):\n" + "\n".join(problems)
    assert counts["sent"] == str(len(PEOPLE)), f"the progress page shows {counts}"
    assert counts["failed"] == "0", f"the progress page shows {counts}"
