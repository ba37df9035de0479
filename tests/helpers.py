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


def signup(
    client, email="ann@example.org", topics=("newsletter",), consent=True, headers=None, **extra
):
    data = {"email": email, "topics": list(topics), "consent_text_id": "1", **extra}
    if consent:
        data["consent"] = "y"
    return client.post("/subscribe", data=data, headers=headers or {})


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
