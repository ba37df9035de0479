"""Rule 4 (both opt-outs in every message): `compliance.check_marketing_message`."""

from __future__ import annotations

import re

from sqlalchemy import select

from newsletter import campaigns, compliance, messages
from newsletter.extensions import db
from newsletter.models import Topic


def sample_message() -> bytes:
    topic = db.session.scalar(select(Topic).where(Topic.slug == "newsletter"))
    campaign = campaigns.create_campaign("News", "Hello.", topic)
    return messages.prepare(campaign).build(messages.sample_recipient())


def test_check_marketing_message(app):
    raw = sample_message()
    assert compliance.check_marketing_message(raw) == []
    unsubscribe = re.search(rb"<(https://[^>]+/unsubscribe/[^>]+)>", raw).group(1)

    def problems_after(old: bytes, new: bytes) -> list[str]:
        assert old in raw
        return compliance.check_marketing_message(raw.replace(old, new))

    assert problems_after(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"X-A: b") == [
        "List-Unsubscribe-Post header present 0 times, must be exactly once",
        "List-Unsubscribe-Post must be exactly 'List-Unsubscribe=One-Click' (RFC 8058)",
    ]
    assert "List-Unsubscribe must hold exactly one https URI (and a mailto)" in problems_after(
        b"<" + unsubscribe + b">", b"<http://insecure.example/u>"
    )
    assert "Message-ID is not of the form <id@domain>" in problems_after(
        b"@news.example.test>", b">"
    )
    assert "List-Id header present 2 times, must be exactly once" in problems_after(
        b"List-Id:", b"List-Id: x <a.b>\r\nList-Id:"
    )
    long_line = problems_after(b"MIME-Version: 1.0", b"X-Long: " + b"a" * 1000)
    assert "a line is longer than 998 octets (RFC 5322 2.1.1)" in long_line
    assert compliance.check_marketing_message(raw.split(b"\r\n\r\n")[0] + b"\r\n\r\n") != []
