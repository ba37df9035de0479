"""Rule 4 (both opt-outs in every message): `compliance.check_marketing_message`."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from newsletter import compliance, messages

CHANGED = compliance._CHANGED
FOOTER = compliance._FOOTER


def test_check_marketing_message(make_campaign):
    campaign = make_campaign(subject="News", body="Hello.")
    raw = messages.prepare(campaign).build(messages.sample_recipient())
    assert compliance.check_marketing_message(raw) == []
    unsubscribe = re.search(rb"<(https://[^>]+/unsubscribe/[^>]+)>", raw).group(1)

    def problems_after(old: bytes, new: bytes) -> list[str]:
        assert old in raw
        return compliance.check_marketing_message(raw.replace(old, new))

    assert problems_after(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"X-A: b") == [
        "the List-Unsubscribe-Post header is there 0 times, it must be there exactly once: "
        f"{CHANGED} (RFC 5322 3.6, RFC 2369)",
        f"the List-Unsubscribe-Post header must be exactly 'List-Unsubscribe=One-Click': "
        f"{CHANGED} (RFC 8058)",
    ]
    insecure = problems_after(b"<" + unsubscribe + b">", b"<http://insecure.example/u>")
    assert insecure[0].startswith(
        "the unsubscribe link is not https: set NEWSLETTER_BASE_URL to the public https address"
    )
    assert problems_after(b"@news.example.test>", b">")[0].startswith(
        "the Message-ID is not of the form <id@domain>"
    )
    assert problems_after(b"List-Id:", b"List-Id: x <a.b>\r\nList-Id:")[0].startswith(
        "the List-Id header is there 2 times, it must be there exactly once"
    )
    long_line = problems_after(b"MIME-Version: 1.0", b"X-Long: " + b"a" * 1000)
    assert f"a line is longer than 998 octets: {CHANGED} (RFC 5322 2.1.1)" in long_line
    assert compliance.check_marketing_message(raw.split(b"\r\n\r\n")[0] + b"\r\n\r\n") != []


def test_check_marketing_parts_applies_rule_4_to_the_texts_of_a_built_message(app, make_campaign):
    """The sender's per-message form of the check finds what the whole parse finds."""
    prepared = messages.prepare(make_campaign(subject="News", body="Hello."))
    recipient = messages.Recipient("zoe@example.org", 'Zoë Ünïcode, "Jr"', "pid", "consent", None)
    built = prepared.compose(recipient)
    assert compliance.check_marketing_parts(built.head, built.text, built.page) == []
    assert compliance.check_marketing_message(built.raw) == []
    unsubscribe = re.search(r"<(https://[^>]+/unsubscribe/[^>]+)>", built.head).group(1)
    preferences = re.search(r"List-Help: <([^>]+)>", built.head).group(1)

    def both(head=built.head, text=built.text, page=built.page) -> list[str]:
        return compliance.check_marketing_parts(head, text, page)

    assert [
        p.split(":")[0] for p in both(head=built.head.replace("List-Unsubscribe-Post", "X"))
    ] == [
        "the List-Unsubscribe-Post header is there 0 times, it must be there exactly once",
        "the List-Unsubscribe-Post header must be exactly 'List-Unsubscribe=One-Click'",
    ]
    assert both(head=built.head + "X-Long: " + "a" * 1000 + "\r\n") == [
        f"a line is longer than 998 octets: {CHANGED} (RFC 5322 2.1.1)"
    ]
    assert both(text=built.text.replace(preferences, "")) == [
        f"the text part lacks the preferences link: {FOOTER}",
        "the system footer of the text part does not link to this message's own unsubscribe "
        f"and preferences pages: {FOOTER}",
    ]
    assert both(page=built.page.replace(f'href="{unsubscribe}"', f'title="{unsubscribe}"')) == [
        "the HTML part does not carry the system footer as the app writes it (in en, with its "
        f"own styles): {FOOTER}",
        f"the unsubscribe link is not a clickable link in the HTML part: {FOOTER}",
    ]
    assert both(page=built.page.replace("You receive this email because", "Hi")) == [
        "the HTML part does not say, in the recipient's language (en), why the person "
        f"receives it: {FOOTER} (SPEC rule 4, GBA 19/2021)",
        "the system footer of the HTML part has no reason line in en (why the person receives "
        f"it): {FOOTER} (SPEC rule 4, GBA 19/2021)",
    ]
    name = app.config["ORGANIZATION_NAME"]
    assert both(text=built.text.replace(name, "Someone")) == [
        f"the text part lacks the sender's name and postal address: {FOOTER} (ePrivacy Art. 13(4))",
        "the text part does not carry the system footer as the app writes it (in en, with its "
        f"own styles): {FOOTER}",
    ]


def test_rule_4_each_message_is_checked_as_its_checked_skeleton_with_harmless_values(
    make_campaign, monkeypatch
):
    """The sender's check of every message (`PreparedMessagesCheck`): the whole check until
    one message passed it, then at once only for the checked skeleton filled with values
    that cannot change the outcome; anything else gets the whole check again."""
    prepared = messages.prepare(make_campaign(subject="Hi {{ name }}", body="Dear {{ name }},"))
    check = compliance.PreparedMessagesCheck((prepared.head, prepared.text, prepared.html))
    whole = []
    real = compliance.check_marketing_parts
    monkeypatch.setattr(
        compliance, "check_marketing_parts", lambda *parts: whole.append(1) or real(*parts)
    )

    def checked(built) -> tuple[list[str], str]:
        """The problems, and whether the whole check ran ("whole") or not ("at once")."""
        before = len(whole)
        problems = check.check(built)
        return problems, "whole" if len(whole) > before else "at once"

    day = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def built(name, since=day, email="ann@example.org"):
        recipient = messages.Recipient(email, name, f"pid-{name}", "consent", since, "en")
        return prepared.compose(recipient)

    assert checked(built("Ann")) == ([], "whole")  # the first message
    assert checked(built("Bob <b>&", email="bob@example.org")) == ([], "at once")
    assert checked(built("Cy", since=day + timedelta(days=1))) == ([], "whole")  # new reason
    assert checked(built("Di", since=day + timedelta(days=1))) == ([], "at once")

    # Not the checked skeleton, or a value of another kind: the whole check, in its words.
    eve = built("Eve")
    unsubscribe = eve.values[1]["unsubscribe_url"]
    dropped = replace(eve, text=eve.text.replace(unsubscribe, "https://example.org/x"))
    problems, how = checked(dropped)
    assert how == "whole"
    assert problems[0] == f"the text part lacks the unsubscribe-from-all link: {FOOTER}"
    elsewhere = unsubscribe.replace("/unsubscribe/", "/elsewhere/")
    assert checked(_refilled(prepared, eve, unsubscribe_url=elsewhere))[1] == "whole"
    assert checked(_refilled(prepared, eve, page_name="<b hidden>"))[1] == "whole"
    injected = _refilled(prepared, eve, to="eve@example.org\r\nBcc: all@example.org")
    assert checked(injected)[1] == "whole"
    assert checked(eve) == ([], "at once")


def _refilled(prepared, built, unsubscribe_url=None, page_name=None, to=None):
    """`built` with some values changed and its texts filled again from the skeletons."""
    head, text, page = (dict(values) for values in built.values)
    if unsubscribe_url:
        head["unsubscribe_url"] = text["unsubscribe_url"] = page["unsubscribe_url"] = (
            unsubscribe_url
        )
    if page_name:
        page.update({key: page_name for key in page if isinstance(key, tuple)})
    if to:
        head["to"] = to
    return replace(
        built,
        head=prepared.head.fill(head),
        text=prepared.text.fill(text),
        page=prepared.html.fill(page),
        values=(head, text, page),
    )
