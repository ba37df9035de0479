"""Small helpers shared by tests (import them; fixtures live in conftest.py)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>]+", text)


def confirm_path(message) -> str:
    """The path of the confirmation link in a confirmation mail."""
    from tests.conftest import mail_text

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
