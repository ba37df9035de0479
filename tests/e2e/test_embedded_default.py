"""README's "Run it": `flask run` in a fresh checkout, with nothing configured.

A Dutch-speaking visitor signs up over plain http with CSRF on, follows the confirmation
link found with `flask outbox list` / `flask outbox show ID`, confirms; the shop owner
creates the first admin with `flask admin create` (as the first start tells them), signs
in, composes and sends a campaign from the admin; the Dutch subscriber's message is in
the built-in outbox within a minute, with the footer in Dutch. No `flask worker` runs:
README's run command alone has to deliver (SPEC "Command line").

Everything is the default configuration: SQLite in the instance folder, a secret key
generated there, no MAIL_SERVER (the outbox), BASE_URL http://127.0.0.1:5000. The only
thing a test may change is the port, when 5000 is taken on this machine (see below).
"""

from __future__ import annotations

import time

import pytest

from tests.e2e import steps
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    LANGUAGE,
    browser_context,
    flask_command,
    link_to,
    parse_mail,
    port_is_free,
    readable,
    requires_chromium,
    wait_for_log,
    wait_until_serving,
)
from tests.helpers import free_port

pytestmark = [pytest.mark.e2e, requires_chromium]

SUBSCRIBER = "an.peeters@example.be"
SUBJECT = "Onze lentecollectie is er"
BODY = (
    "# De lente is er\n\nBeste lezer,\n\nDeze week kwam onze **lentecollectie** binnen: "
    "linnen hemden en mokken uit het atelier in Gent.\n\nTot in de winkel!"
)


def outbox_rows(processes) -> list[tuple[str, str, str]]:
    """`flask outbox list`: (id, recipient, subject) of each message, newest first."""
    rows = []
    for line in processes.run([*flask_command(), "outbox", "list"]).splitlines():
        fields = line.split("\t")
        if len(fields) >= 4:
            rows.append((fields[0], fields[2], fields[3]))
    return rows


def outbox_message(processes, message_id: str):
    """`flask outbox show ID`, read as the mail it is (decoded, whatever the transfer encoding)."""
    shown = processes.run([*flask_command(), "outbox", "show", message_id])
    message = parse_mail(shown)
    try:
        return message, readable(message) + "\n" + shown
    except (KeyError, LookupError, ValueError):  # printed already decoded, not as MIME
        return message, shown


def wait_for_outbox(processes, recipient: str, subject_part: str, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message_id, to, subject in outbox_rows(processes):
            if recipient in to and subject_part in subject:
                return message_id
        time.sleep(2)
    return None


def test_readme_run_command_alone_signs_up_confirms_and_delivers_in_dutch(
    processes, browser, shots
):
    # README: `flask run` serves http://127.0.0.1:5000, which is also the default BASE_URL.
    # When another program holds port 5000 here, the app is started on a free loopback
    # port with BASE_URL saying so: the same loopback-http shape, links still pointing at
    # where the app really answers, which is what a person would set in that case.
    port = 5000 if port_is_free(5000) else free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {"FLASK_APP": "app.py"}  # what `flask` finds by itself in the checkout
    if port != 5000:
        env["NEWSLETTER_BASE_URL"] = base_url
    processes.env.update(env)
    server = processes.start("flask-run", [*flask_command(), "run", "--port", str(port)])
    wait_until_serving(server, f"{base_url}/subscribe")
    # The first start creates the database and says how to create the first admin.
    wait_for_log(server, "flask admin create")
    assert (processes.workdir / "instance" / "newsletter.db").exists()
    assert (processes.workdir / "instance" / "secret_key").exists()

    created = processes.run(
        [*flask_command(), "admin", "create", ADMIN_EMAIL], stdin=ADMIN_PASSWORD + "\n"
    )
    assert ADMIN_EMAIL in created

    # A Dutch-speaking visitor signs up over http, with CSRF on.
    visitor = browser_context(browser, "nl").new_page()
    steps.sign_up(visitor, base_url, SUBSCRIBER, "nl", shots)

    # The confirmation mail is in the built-in outbox, in Dutch (README: flask outbox …).
    [(confirm_id, _to, confirm_subject)] = [r for r in outbox_rows(processes) if SUBSCRIBER in r[1]]
    assert "Bevestig uw inschrijving" in confirm_subject
    _message, confirmation = outbox_message(processes, confirm_id)
    confirm_url = link_to(confirmation, "/confirm/")
    assert confirm_url.startswith(f"{base_url}/confirm/")
    steps.confirm(visitor, confirm_url, "nl", shots)

    # The shop owner signs in and sends a campaign from the admin.
    owner = browser_context(browser, "nl").new_page()
    steps.admin_sign_in(owner, base_url, shots)
    steps.send_campaign(owner, SUBJECT, BODY, recipients=1, shots=shots)

    # Within a minute, with nothing but `flask run` running, the message is in the outbox.
    delivered = wait_for_outbox(processes, SUBSCRIBER, SUBJECT, timeout=steps.CAMPAIGN_SECONDS)
    counts = steps.watch_progress(owner, 1, shots, timeout=2)
    assert delivered is not None, (
        f"the campaign did not reach the outbox within {steps.CAMPAIGN_SECONDS} s with README's "
        f"run command alone; the progress page shows {counts}"
    )
    message, text = outbox_message(processes, delivered)
    assert "lentecollectie" in text
    assert LANGUAGE["nl"]["reason"] in text, "the footer does not say in Dutch why I get this"
    assert LANGUAGE["nl"]["unsubscribe"] in text
    assert LANGUAGE["en"]["reason"] not in text
    unsubscribe = link_to(text, "/unsubscribe/")
    assert unsubscribe.startswith(f"{base_url}/unsubscribe/")
    assert f"<{base_url}/unsubscribe/" in str(message["List-Unsubscribe"])
    assert counts["sent"] == "1", f"the progress page shows {counts}"

    # The owner finds it in the admin's Outbox page too.
    owner.locator("a[href$='/admin/outbox']").first.click()
    owner.locator("table a", has_text=SUBJECT).first.click()
    owner.locator("pre.mail-text", has_text=LANGUAGE["nl"]["reason"]).wait_for()
    owner.screenshot(path=str(shots / "admin-outbox-message.png"), full_page=True)
