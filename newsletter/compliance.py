"""The legal rules the software enforces, each one function, in one place.

Views, the sender, the importer and the jobs call these; none of them re-implements a
rule. Each docstring names the rule's source (SPEC "Legal rules" numbering, the seed
documents in shared/legal-sources/, and COMPLIANCE-CHECKLIST.md items). Each rule has a
test named after it in tests/test_compliance.py. docs/COMPLIANCE.md is the index.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import html
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser

from sqlalchemy import ColumnElement, Exists, and_, exists, func, or_, select

from .extensions import db
from .models import (
    Basis,
    Channel,
    ConfirmationSend,
    ConsentEvent,
    RetiredPublicId,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    Topic,
)


class ComplianceError(Exception):
    """An action the law does not allow; the message says which rule and why."""


# --- Rule 1: no marketing mail without a lawful basis ---------------------------------


def basis_allowed_for_topic(basis: str, topic: Topic) -> bool:
    """The existing-customer exception covers only the business's own similar products.

    Source: ePrivacy Directive Art. 13(2); Dutch Tw 11.7(3); Belgian KB 4-4-2003 art. 1;
    seed "direct-marketing-existing-customers"; checklist E1. SPEC rule 1.
    """
    if basis == Basis.CONSENT:
        return True
    return basis == Basis.EXISTING_CUSTOMER and bool(topic.own_similar_products)


def has_lawful_basis(subscriber: Subscriber, subscription: Subscription) -> bool:
    """May this subscriber get marketing mail on this subscription's topic?

    Only confirmed (double opt-in) consent, or the existing-customer exception with
    evidence of a purchase, for own-similar-products topics. A pending signup gets
    nothing but its confirmation mail (checklist D2). SPEC rule 1.
    """
    if subscriber.status != SubscriberStatus.ACTIVE or subscription.confirmed_at is None:
        return False
    if subscription.basis == Basis.EXISTING_CUSTOMER and subscriber.purchased_at is None:
        return False
    return basis_allowed_for_topic(subscription.basis, subscription.topic)


def lawful_recipients_condition(topic: Topic) -> ColumnElement[bool]:
    """`has_lawful_basis` as SQL, for picking a campaign's recipients in one query.

    To be used on a select joining Subscriber and Subscription for `topic`.
    """
    conditions = [
        Subscriber.status == SubscriberStatus.ACTIVE,
        Subscription.topic_id == topic.id,
        Subscription.confirmed_at.is_not(None),
    ]
    if topic.own_similar_products:
        basis_ok = or_(
            Subscription.basis == Basis.CONSENT,
            and_(
                Subscription.basis == Basis.EXISTING_CUSTOMER,
                Subscriber.purchased_at.is_not(None),
            ),
        )
    else:
        basis_ok = Subscription.basis == Basis.CONSENT
    return and_(*conditions, basis_ok)


# Imports (checklist D7): a basis per row, screened against suppression, no bought lists.

_BOUGHT_LIST_WORDS = re.compile(
    r"\b(?:bought|purchased|rented|acquired|gekochte?|gehuurde?)\s+(?:\w+\s+){0,2}"
    r"(?:lists?|data|database|file|addresses|leads|contacts|lijst|bestand|adressen)\b"
    r"|\b(?:list|data|address|lead)[- ]?(?:broker|vendor|provider)s?\b"
    r"|\bthird[- ]part(?:y|ies)\b|\bco-?registration\b|\bscraped\b|\blead ?lists?\b"
    r"|\bfichiers? (?:achet|lou)",
    re.IGNORECASE,
)


def require_import_declaration(source: str, consent_given_to_us: bool) -> None:
    """An import names where its people came from, and they came to THIS business.

    Bought, rented or brokered lists are refused: consent given to someone else is no
    consent to us, and a list broker's customers are not our customers.
    Source: checklist D7 (ACM Daisycon decision); GDPR Art. 7(1) (the controller must
    be able to demonstrate consent); ePrivacy Art. 13(2) (own customers only). SPEC rule 1.
    """
    text = (source or "").strip()
    if len(text) < 10:
        raise ComplianceError(
            "Describe where these people came from (at least 10 characters), e.g. "
            "'shop checkout 2024, newsletter box ticked'."
        )
    if _BOUGHT_LIST_WORDS.search(text):
        raise ComplianceError(
            "This source reads like a bought, rented or third-party list. Such lists may "
            "not be imported: only people who gave their consent to, or bought from, "
            "this business."
        )
    if not consent_given_to_us:
        raise ComplianceError(
            "Confirm that every person in the file gave their consent to, or bought from, "
            "this business itself (not a list from someone else)."
        )


def imported_consent_current(consented_at: datetime, now: datetime, interval_days: int) -> bool:
    """Is an imported consent recent enough to mail on, without asking again?

    Evidence older than the re-consent interval, or dated in the future, is not: such
    rows are asked to confirm first (double opt-in), like any stale consent.
    Source: SPEC rules 2 and 6; seed "ap-advertising-consent-retention" (two years);
    checklist D6, D7.
    """
    return now - timedelta(days=interval_days) < consented_at <= now


# --- Rule 2: consent is explicit, free, specific, informed -----------------------------


def require_explicit_consent(box_ticked: bool, topics: list[str]) -> None:
    """Consent is an affirmative act (an unticked box the person ticked) for named topics.

    Source: GDPR Art. 4(11), 7; CJEU Planet49 C-673/17; seed
    "sending-newsletters-consent-checklist"; checklist D1. SPEC rule 2.
    """
    if not box_ticked:
        raise ComplianceError("Consent is required: tick the box to agree to receive the mail.")
    if not topics:
        raise ComplianceError("Choose at least one list to subscribe to.")


# --- Rule 3: objection is absolute and immediate ---------------------------------------


def is_objected(address_hash: str, channel: str = Channel.EMAIL) -> bool:
    """Has this person objected to marketing on this channel (or opted out of email)?

    Source: GDPR Art. 21(2)-(3); GBA decision 19/2021; checklist G1. SPEC rule 3.
    """
    return bool(db.session.scalar(select(objection_exists(address_hash, channel))))


def objection_exists(address_hash, channel: str = Channel.EMAIL) -> Exists:
    """`is_objected` as an SQL EXISTS (`address_hash` a value or a bind parameter), so the
    sender's per-message re-check is one query. Source: as `is_objected`. SPEC rule 3.
    """
    return exists().where(Suppression.address_hash == address_hash, Suppression.channel == channel)


def objected_hashes(address_hashes: set[str], channel: str = Channel.EMAIL) -> set[str]:
    """`is_objected` for many people at once: the hashes among these that objected.

    The sender re-checks a chunk of recipients with it in one query instead of one per
    message. Source: GDPR Art. 21(2)-(3); GBA decision 19/2021; checklist G1. SPEC rule 3.
    """
    if not address_hashes:
        return set()
    query = select(Suppression.address_hash).where(
        Suppression.channel == channel, Suppression.address_hash.in_(address_hashes)
    )
    return set(db.session.scalars(query))


def objection_channels(requested) -> tuple[str, ...]:
    """The channels an objection covers: those named, or every channel when none are.

    One opt-out must stop all marketing by the business, not only email, unless the
    person limits it. Source: Belgian DPA (GBA) decision 19/2021; GDPR Art. 21(2)-(3);
    checklist G1, B7. SPEC rule 3.
    """
    if not requested:
        return Channel.ALL
    return tuple(c for c in Channel.ALL if c in set(requested))


def may_send_marketing(subscriber: Subscriber | None, subscription: Subscription | None) -> bool:
    """The last check before a marketing message is handed to SMTP.

    Called per message, in the middle of a send too, so that an opt-out or objection
    recorded a moment ago stops the next message. SPEC rule 3 (with rule 1).
    """
    if subscriber is None or subscription is None:
        return False  # erased (opted out) since the send started
    return has_lawful_basis(subscriber, subscription)


# --- Every link keeps its word: older links reach the person now, test links do nothing -


@dataclass(frozen=True)
class LinkPerson:
    """Whom an unsubscribe or preferences link acts on, now."""

    subscriber: Subscriber | None  # the person's subscriber now; None: nobody is subscribed
    address_hash: str | None  # the person's keyed hash, known when the link's id is retired
    older: bool  # the link names an earlier subscription of the person (a retired id)


def opt_out_link_reaches_current_subscription(public_id: str) -> LinkPerson:
    """The subscription an unsubscribe or preferences link acts on: the person's, as it is
    now, whichever message the link came from.

    A link names the subscriber it was mailed to by an opaque public id. Once that
    subscriber is deleted (opt-out, erasure, a lapsed basis) and the person comes back
    (a new signup, a new import) under a new id, the link of every older message must
    still stop them: an objection covers all direct marketing, from then on (GDPR Art.
    21(2)-(3)); the opt-out a message offers must work and say truly what it did (GBA
    decision 19/2021; GDPR Art. 5(1)(a)); SPEC rules 3 and 4. The deleted id is kept
    with the keyed hash of the address only (`RetiredPublicId`), and the person's current
    subscriber is the one whose consent events carry that hash. Nobody under that hash,
    or an id never retired: `subscriber` is None and the page says so.
    """
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.public_id == public_id))
    if subscriber is not None:
        return LinkPerson(subscriber, None, older=False)
    digest = db.session.scalar(
        select(RetiredPublicId.address_hash).where(RetiredPublicId.public_id == public_id)
    )
    if digest is None:
        return LinkPerson(None, None, older=False)
    current = db.session.scalar(
        select(Subscriber)
        .join(ConsentEvent, ConsentEvent.subscriber_id == Subscriber.id)
        .where(ConsentEvent.subject_hash == digest)
        .limit(1)
    )
    return LinkPerson(current, digest, older=True)


def refusal_of_test_recipient(address_hash: str, is_admin: bool) -> str | None:
    """Why an admin's test message may not go to this address (None: it may).

    A test is the campaign's message: it goes to an admin of this installation, or to an
    address with no entry in the suppression list and objection register, on any channel.
    An objection is absolute (GDPR Art. 21(2)-(3)) and covers every channel unless the
    person limited it (GBA decision 19/2021); no marketing mail without a lawful basis
    (ePrivacy Art. 13(1); SPEC rules 1 and 3). The keyed hash, never the address, is
    looked up.
    """
    if is_admin:
        return None
    found = set(
        db.session.scalars(
            select(Suppression.channel).where(Suppression.address_hash == address_hash)
        )
    )
    if not found:
        return None
    channels = ", ".join([c for c in Channel.ALL if c in found] + sorted(found - set(Channel.ALL)))
    return (
        f"Test address: this address has objected to marketing or is suppressed ({channels}), "
        "so no message of a campaign goes to it, not even a test. Send the test to an "
        "admin's address, or to one that has not objected."
    )


_CHECKING_TEST_MESSAGE: ContextVar[bool] = ContextVar("checking_test_message", default=False)


def check_test_message(message) -> list[str]:
    """Every problem that forbids sending this admin's test message (empty: fine).

    A test goes through the campaign's own rule-4 check (both opt-outs, the sender, a
    reason line in the message's language, nothing hidden), with its own reason line in
    place of the consent or purchase one (`footer_reason_phrases` reads it while this
    check runs). And it must say what it is and change nothing: the test prefix in the
    subject and the test banner in both parts, no claim that the reader consented or
    bought (nobody consented to a test: an untrue claim of consent is no evidence, GDPR
    Art. 5(1)(a), 7(1)), and unsubscribe and preferences links that act on nobody (test
    tokens, `tokens.TEST`), so that pressing them unsubscribes no real subscriber and
    records nothing. Sources: SPEC rule 4 and "Every marketing message"; GBA decision
    19/2021; GDPR Art. 5(1)(a), 7(1), 21(3). Takes raw bytes or an `email` message.
    """
    from . import campaigns, i18n, messages

    if not isinstance(message, bytes | bytearray):
        message = message.as_bytes(policy=message.policy.clone(max_line_length=None))
    raw = bytes(message)
    checking = _CHECKING_TEST_MESSAGE.set(True)
    try:
        problems = check_marketing_message(raw)
    finally:
        _CHECKING_TEST_MESSAGE.reset(checking)
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    language = i18n.normalize_locale(parsed.get("Content-Language"))
    if language is None:
        return problems  # reported by the rule-4 check
    wording = campaigns.wording_of_test_send(language)
    subject = str(email.header.make_header(email.header.decode_header(parsed["Subject"] or "")))
    if not _unfold(subject).startswith(wording.prefix):
        problems.append(f"the subject of a test message must start with {wording.prefix}")
    text, page = _alternative_parts(parsed, [])
    claims = messages.reason_phrases(language)
    for label, part in (("text", text), ("HTML", page)):
        shown = html.unescape(part or "")
        if wording.banner not in shown:
            problems.append(f"the {label} part of a test message lacks the test banner")
        if any(claim in shown for claim in claims):
            problems.append(
                f"the {label} part of a test message claims that the reader consented or "
                "bought: a test makes no such claim (GDPR Art. 5(1)(a), 7(1))"
            )
    links = {
        "unsubscribe": _one_unsubscribe_link(parsed, []),
        "preferences": _angle_url(parsed.get("List-Help") or ""),
    }
    for link, url in links.items():
        if not _inert_test_link(url, link, language):
            problems.append(
                f"the {link} link of a test message must be a test link that changes "
                "nothing; this one could act on a real subscription"
            )
    return problems


def _inert_test_link(url: str, link: str, language: str) -> bool:
    from . import tokens

    try:
        payload = tokens.verify(tokens.TEST, url.rsplit("/", 1)[-1])
    except tokens.InvalidToken:
        return False
    return f"/{link}/" in url and payload == [link, language]


def reason_phrases_of_test_message(language: str) -> tuple[str, ...]:
    """The fixed words of a test message's reason line in `language` (its longest run of
    words between the filled-in values), from the translation catalogue."""
    from . import campaigns

    line = campaigns.wording_of_test_send(language, organization="\0").reason
    return (max(line.split("\0"), key=len).strip(),)


# --- Double opt-in: nothing but the confirmation mail, and not too many of them --------


def confirmation_mail_allowed(address_hash: str, now: datetime, per_day: int) -> bool:
    """At most `per_day` confirmation mails to one address in 24 hours (list bombing).

    Source: checklist H1 (listmonk #308, #1559); SPEC NEWSLETTER_CONFIRM_MAILS_PER_ADDRESS.
    """
    since = now - timedelta(hours=24)
    count = db.session.scalar(
        select(func.count())
        .select_from(ConfirmationSend)
        .where(ConfirmationSend.address_hash == address_hash, ConfirmationSend.sent_at > since)
    )
    return count < per_day


# --- Rule 4: every marketing message offers both opt-outs (filled by messages.py) ------


REQUIRED_ONCE = ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Help")
ONE_CLICK = "List-Unsubscribe=One-Click"
_FIELD_START = re.compile(r"\r?\n(?![ \t])")  # a line break not followed by a fold
_FOLD = re.compile(r"\r?\n[ \t]")
_MESSAGE_ID = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")
_LIST_ID = re.compile(r"<[^<>\s]+>\s*$")
_ANGLED = re.compile(r"<([^<>\s]+)>")
# What to do about a problem that only a changed message or a changed layout can cause.
_CHANGED = "the app writes this itself: send the message as the app built it, unchanged"
_FOOTER = (
    "the system footer is missing from the email layout: restore it in "
    "templates/email/layout.txt and layout.html"
)


def opt_out_link_allowed(url: str) -> bool:
    """May this opt-out link (List-Unsubscribe, List-Help, the footer's links) be used?

    It must be https: RFC 8058 §3.1 ("The List-Unsubscribe header field MUST contain one
    HTTPS URI"), and a one-click POST over plain http would carry the token in clear.
    The one exception is a loopback BASE_URL (127.0.0.0/8, localhost, [::1]) with links
    on loopback too: a local trial or a local mail catcher, where the mail never leaves
    the machine (SPEC `NEWSLETTER_BASE_URL`; the app refuses to start with a non-loopback
    http BASE_URL and an SMTP server). Sources: RFC 8058 §3.1; RFC 2369; SPEC rule 4.
    """
    from . import links

    if url.startswith("https://"):
        return True
    base_url = _config("BASE_URL")
    return (
        url.startswith("http://") and links.is_loopback_url(base_url) and links.is_loopback_url(url)
    )


def _https_advice() -> str:
    return (
        "set NEWSLETTER_BASE_URL to the public https address of this site "
        f"(now {_config('BASE_URL')}); plain http is only for a loopback address "
        "such as http://127.0.0.1:5000"
    )


def footer_reason_phrases(language: str) -> tuple[str, ...]:
    """The fixed words of the footer's "why you get this" line in `language`, one per
    basis (consent, existing customer), from the same translation catalogues as the
    footer itself: the check reads the footer in the recipient's language, never an
    English sentence (a Dutch or French footer is the law's wish, not a fault).
    """
    from . import messages

    if _CHECKING_TEST_MESSAGE.get():  # check_test_message: a test's own reason line
        return reason_phrases_of_test_message(language)
    return messages.reason_phrases(language)


def check_marketing_message(message) -> list[str]:
    """Every problem that forbids handing this marketing message to SMTP (empty: fine).

    Both opt-outs in the medium used, in headers and in both body parts: the
    unsubscribe-from-all link and the preferences link, plus the sender's identity and
    why the person gets the message, in the message's language (Content-Language), and
    in HTML none of it hidden. Sources: SPEC rule 4 and "Every marketing message";
    Belgian DPA decision 19/2021; ePrivacy Art. 13(4); RFC 2369, RFC 8058, RFC 5322;
    checklist A1-A4, A8, A9, B6, B7, F. Takes raw bytes or an `email` message.
    Each problem says what to do, then the rule it breaks.
    """
    if isinstance(message, bytes | bytearray):
        raw = bytes(message)
    else:  # serialise as parsed: refolding long header lines would alter the URLs
        raw = message.as_bytes(policy=message.policy.clone(max_line_length=None))
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    missing: list[str] = []
    text, page = _alternative_parts(parsed, missing)
    problems = _rule_4_problems(parsed, raw.split(b"\n"), text, page, missing)
    if page is not None:
        problems += _hidden_footer_problems(parsed, page)
    return problems


def check_marketing_parts(head: str, text: str, page: str) -> list[str]:
    """`check_marketing_message` for a message the sender built itself, without parsing it.

    The same rules on the same text: the header block as written, and the text and HTML
    bodies as they are before base64, which is what a mail client decodes. What this does
    not see is the MIME skeleton around the two bodies (boundaries, part headers, base64
    lines of 76 octets) and the layout's styles (is the footer visible?); both are the
    same for every message of a prepared campaign (the per-recipient values are escaped
    text), and the sender checks one whole message of each prepared campaign with
    `check_marketing_message` before any message of it goes out. SPEC rule 4, as above.
    """
    return _rule_4_problems(_HeaderBlock(head), head.encode("utf-8").split(b"\n"), text, page, [])


def _rule_4_problems(headers, lines, text: str | None, page: str | None, missing) -> list[str]:
    problems = _header_problems(headers)
    if any(len(line) > 998 for line in lines):
        problems.append(f"a line is longer than 998 octets: {_CHANGED} (RFC 5322 2.1.1)")
    unsubscribe = _one_unsubscribe_link(headers, problems)
    preferences = _angle_url(headers.get("List-Help", ""))
    problems += missing
    problems += _identity_problems()
    identity = [html.unescape(_config(k)) for k in ("ORGANIZATION_NAME", "ORGANIZATION_ADDRESS")]
    language = _language(headers, problems)
    phrases = footer_reason_phrases(language) if language else ()
    for label, part in (("text", text), ("HTML", page)):
        if part is None:
            continue
        if unsubscribe and unsubscribe not in part:
            problems.append(f"the {label} part lacks the unsubscribe-from-all link: {_FOOTER}")
        if preferences and preferences not in part:
            problems.append(f"the {label} part lacks the preferences link: {_FOOTER}")
        # Unescaped only when not found as it is (unescaping a whole page is the dear part).
        if any(n and n not in part and n not in html.unescape(part) for n in identity):
            problems.append(
                f"the {label} part lacks the sender's name and postal address: {_FOOTER} "
                "(ePrivacy Art. 13(4))"
            )
        if language and not _says_why(part, phrases, escaped=label == "HTML"):
            problems.append(
                f"the {label} part does not say, in the recipient's language ({language}), "
                f"why the person receives it: {_FOOTER} (SPEC rule 4, GBA 19/2021)"
            )
    if page is not None and unsubscribe and f'href="{unsubscribe}"' not in page:
        problems.append(f"the unsubscribe link is not a clickable link in the HTML part: {_FOOTER}")
    return problems


def _says_why(part: str, phrases: tuple[str, ...], escaped: bool) -> bool:
    if any(p in part for p in phrases):
        return True
    if escaped:  # the footer's values are HTML-escaped (an apostrophe is &#x27;)
        if any(html.escape(p) in part for p in phrases):
            return True
        return any(p in html.unescape(part) for p in phrases)
    return False


def _identity_problems() -> list[str]:
    missing = [k for k in ("ORGANIZATION_NAME", "ORGANIZATION_ADDRESS") if not _config(k).strip()]
    if not missing:
        return []
    names = " and ".join(f"NEWSLETTER_{k}" for k in missing)
    return [
        f"set {names}: every marketing mail must say who sends it and give a postal "
        "address (ePrivacy Art. 13(4); Dutch Tw 15e; Belgian WER XII.13)"
    ]


def _language(headers, problems: list[str]) -> str | None:
    """The message's language (Content-Language, RFC 3282), which the system sets to the
    recipient's; None, with a problem, when it is missing or not a supported one."""
    from . import i18n

    declared = (headers.get("Content-Language") or "").strip()
    language = i18n.normalize_locale(declared)
    if language is None:
        problems.append(
            f"the message does not name a supported language in Content-Language "
            f"({declared or 'none'}): {_CHANGED} (RFC 3282)"
        )
    return language


class _HeaderBlock:
    """The lookups rule 4 makes on an `email` message (compat32), on a header block
    split by hand: parsing a whole message with `email` costs about ten times more."""

    def __init__(self, head: str):
        self.fields: dict[str, list[str]] = {}
        for line in _FIELD_START.split(head.rstrip("\r\n")):
            name, colon, value = line.partition(":")
            if colon:
                self.fields.setdefault(name.strip().lower(), []).append(value.lstrip(" \t"))

    def get_all(self, name: str) -> list[str] | None:
        return self.fields.get(name.lower())

    def get(self, name: str, default=None):
        return self.fields.get(name.lower(), (default,))[0]

    def get_content_type(self) -> str:
        kind = (self.get("Content-Type") or "").split(";")[0].strip().lower()
        return kind if kind.count("/") == 1 else "text/plain"


def _config(key: str) -> str:
    from flask import current_app

    return str(current_app.config[key])


def _header_problems(parsed) -> list[str]:
    problems = []
    for name in (*REQUIRED_ONCE, "List-Unsubscribe", "List-Unsubscribe-Post"):
        count = len(parsed.get_all(name) or [])
        if count != 1:
            problems.append(
                f"the {name} header is there {count} times, it must be there exactly once: "
                f"{_CHANGED} (RFC 5322 3.6, RFC 2369)"
            )
    if not _MESSAGE_ID.fullmatch((parsed.get("Message-ID") or "").strip()):
        problems.append(f"the Message-ID is not of the form <id@domain>: {_CHANGED} (RFC 5322)")
    if (parsed.get("List-Unsubscribe-Post") or "").strip() != ONE_CLICK:
        problems.append(
            f"the List-Unsubscribe-Post header must be exactly '{ONE_CLICK}': {_CHANGED} (RFC 8058)"
        )
    if not _LIST_ID.search(_unfold(parsed.get("List-Id") or "")):
        problems.append(f"the List-Id header has no <list-id>: {_CHANGED} (RFC 2919)")
    help_url = _angle_url(parsed.get("List-Help") or "")
    if not help_url:
        problems.append(
            f"the List-Help header must hold the preferences page's address: {_CHANGED} (RFC 2369)"
        )
    elif not opt_out_link_allowed(help_url):
        problems.append(
            f"the preferences link is not https: {_https_advice()} (RFC 2369, RFC 8058 §3.1)"
        )
    if parsed.get_content_type() != "multipart/alternative":
        problems.append(
            f"the message must have a text and an HTML part (multipart/alternative): {_CHANGED}"
        )
    return problems


def _unfold(value: str) -> str:
    return _FOLD.sub(" ", str(value))


def _angle_url(value) -> str:
    found = _ANGLED.findall(_unfold(value or ""))
    return found[0] if len(found) == 1 else ""


def _one_unsubscribe_link(parsed, problems: list[str]) -> str:
    """The one-click unsubscribe link of List-Unsubscribe (with at most mailto beside)."""
    uris = _ANGLED.findall(_unfold(parsed.get("List-Unsubscribe") or ""))
    web = [u for u in uris if u.startswith(("https://", "http://"))]
    others = [u for u in uris if not u.startswith(("https://", "http://", "mailto:"))]
    if len(web) != 1 or others:
        problems.append(
            "the List-Unsubscribe header must hold exactly one web link (and a mailto): "
            f"{_CHANGED} (RFC 8058 §3.1)"
        )
        return ""
    if not opt_out_link_allowed(web[0]):
        problems.append(
            f"the unsubscribe link is not https: {_https_advice()} (RFC 8058 §3.1: "
            "List-Unsubscribe must hold one https URI)"
        )
        return ""
    return web[0]


def _alternative_parts(parsed, problems: list[str]) -> tuple[str | None, str | None]:
    found: dict[str, str] = {}
    for part in parsed.walk():
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and kind not in found:
            payload = part.get_payload(decode=True) or b""
            found[kind] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    for kind, label in (("text/plain", "text"), ("text/html", "HTML")):
        if kind not in found:
            problems.append(f"the message has no {label} part: {_CHANGED}")
    return found.get("text/plain"), found.get("text/html")


# What hides an element from a reader: an inline style (css_inline has moved the layout's
# CSS onto the elements), the `hidden` attribute, or a part of the page never shown.
_HIDING_STYLE = re.compile(
    r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)"
    r"|opacity\s*:\s*(?:0+(?:\.0*)?|\.0+)\s*(?:!important\s*)?(?:;|$)"
    r"|(?:font-size|max-height|height|max-width|width)\s*:\s*(?:0+(?:\.0*)?|\.0+)(?:px|pt|em|rem|%)?"
    r"\s*(?:!important\s*)?(?:;|$))",
    re.IGNORECASE,
)
_NEVER_SHOWN = {"head", "title", "style", "script", "template", "noscript"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"}


class _HiddenFooter(HTMLParser):
    """Finds the footer's pieces (the unsubscribe and preferences links, the reason line)
    inside an element that a reader does not see."""

    def __init__(self, links: set[str], phrases: tuple[str, ...]):
        super().__init__(convert_charrefs=True)
        self.links, self.phrases = links, phrases
        self.stack: list[tuple[str, bool]] = []
        self.hidden_pieces: set[str] = set()

    def _hidden(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        hides = (
            tag in _NEVER_SHOWN
            or "hidden" in values
            or (values.get("aria-hidden") or "").lower() == "true"
            or bool(_HIDING_STYLE.search(values.get("style") or ""))
        )
        hidden = self._hidden() or hides
        if tag == "a" and hidden and values.get("href") in self.links:
            self.hidden_pieces.add("a link to unsubscribe or to the preferences")
        if tag not in _VOID:
            self.stack.append((tag, hidden))

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        if self._hidden() and any(p in data for p in self.phrases):
            self.hidden_pieces.add("the reason line")


def _hidden_footer_problems(parsed, page: str) -> list[str]:
    """In the HTML part, the footer's links and reason line must be visible: a footer that
    is there but hidden offers no opt-out. Sources: SPEC rule 4 ("in both parts");
    GBA 19/2021 (an easy, visible way to opt out); ePrivacy Art. 13(4)."""
    from . import i18n

    language = i18n.normalize_locale(parsed.get("Content-Language"))
    phrases = footer_reason_phrases(language) if language else ()
    links = {_angle_url(parsed.get("List-Help") or "")}
    links |= set(_ANGLED.findall(_unfold(parsed.get("List-Unsubscribe") or "")))
    finder = _HiddenFooter({link for link in links if link}, phrases)
    finder.feed(page)
    finder.close()
    return [
        f"the HTML part hides {piece} (display:none, hidden, zero size or opacity): keep the "
        "system footer visible in templates/email/layout.html (SPEC rule 4)"
        for piece in sorted(finder.hidden_pieces)
    ]


# --- Rule 5: opt-out means purge: see subscriptions.erase(), which every opt-out uses --

# --- Rule 6: consent is re-asked every two years ---------------------------------------


def reconsent_due(subscriber: Subscriber, now: datetime, interval_days: int) -> bool:
    """A consent-based subscriber whose last consent is older than the interval.

    Source: seed "ap-advertising-consent-retention" (advice: ask again every two years);
    EDPB Guidelines 05/2020 §110 ("refresh at appropriate intervals"). SPEC rule 6.
    """
    if subscriber.status != SubscriberStatus.ACTIVE or subscriber.consented_at is None:
        return False
    return subscriber.consented_at <= now - timedelta(days=interval_days)


def reconsent_lapsed(subscriber: Subscriber, now: datetime, grace_days: int) -> bool:
    """A re-consent request unanswered for the grace period: no more mail, erase.

    Renewal clears `reconsent_requested_at`, so only an open request can lapse.
    Source: seed "ap-advertising-consent-retention"; checklist D6 ("non-responders
    suppressed"); SPEC rule 6 ("no answer means no more mail, and purge").
    """
    if subscriber.reconsent_requested_at is None:
        return False
    return subscriber.reconsent_requested_at <= now - timedelta(days=grace_days)


def customer_basis_lapsed(subscriber: Subscriber, now: datetime, basis_days: int) -> bool:
    """The existing-customer exception no longer covers someone whose last purchase is
    older than `basis_days` (NEWSLETTER_CUSTOMER_BASIS_DAYS).

    The exception rests on a current customer relationship; the law sets no period, so
    we use the re-consent interval's logic (two years by default): a person who has not
    bought for that long is no longer a customer whose reasonable expectations cover our
    mail. Source: ePrivacy Directive Art. 13(2); Dutch Tw 11.7(3); seed
    "direct-marketing-existing-customers"; checklist E1; SPEC rules 1 and 6.
    """
    if subscriber.purchased_at is None:
        return True
    return subscriber.purchased_at <= now - timedelta(days=basis_days)


# --- Rule 7: retention periods ----------------------------------------------------------

# Every kind of personal data, the configuration key of its period, and the unit. The
# privacy notice and docs/RETENTION.md show each of them; tests/test_privacy.py checks
# that the notice follows every key.
RETENTION_PERIODS: dict[str, tuple[str, str]] = {
    "unconfirmed-signups": ("CONFIRM_MAX_AGE_HOURS", "hours"),
    "deliveries": ("DELIVERY_RETENTION_DAYS", "days"),
    "audit-log": ("AUDIT_RETENTION_DAYS", "days"),
    "outbox": ("OUTBOX_RETENTION_DAYS", "days"),
    "consent-evidence": ("CONSENT_EVIDENCE_RETENTION_DAYS", "days"),
    "rights-requests": ("RIGHTS_REQUEST_RETENTION_DAYS", "days"),
    "customer-basis": ("CUSTOMER_BASIS_DAYS", "days"),
    "reconsent-interval": ("RECONSENT_INTERVAL_DAYS", "days"),
    "reconsent-grace": ("RECONSENT_GRACE_DAYS", "days"),
}


def retention_cutoff(kind: str, now: datetime, config) -> datetime:
    """Data of this kind dated before the returned moment must be deleted or anonymised.

    Source: GDPR Art. 5(1)(e) (storage limitation) and Art. 13(2)(a) (the period is
    stated); seed "ap-advertising-consent-retention" ("U moet de bewaartermijnen opnemen
    in uw privacyverklaring", "vernietigen of anonimiseren"); SPEC rule 7.
    """
    key, unit = RETENTION_PERIODS[kind]
    return now - timedelta(**{unit: int(config[key])})


# --- Bounces and complaints (hardening): checklist C3, C4 -------------------------------

COMPLAINT_WARNING_RATE = 0.001  # 0.1 %: warn
COMPLAINT_PAUSE_RATE = 0.003  # 0.3 %: the mailbox providers' line; pause the sending


def complaint_objection_channels() -> tuple[str, ...]:
    """A spam complaint is an objection to direct marketing, on every channel.

    Marking a message as spam is the person saying "stop": an objection under GDPR
    Art. 21(2)-(3), which covers all direct marketing (Art. 21(3)), so every channel of
    the objection register is suppressed, at once. Sources: checklist C3 (ingest ARF
    complaints, suppress at once) and G1; GBA decision 19/2021; SPEC rule 3.
    """
    return Channel.ALL


def bounce_suppression_channels() -> tuple[str, ...]:
    """A dead mailbox says nothing about the person's other channels: email only.

    Source: checklist C4 (suppress after repeated 5.x.x); not an objection.
    """
    return (Channel.EMAIL,)


def suppress_after_bounces(
    hard_in_a_row: int, bounces_in_a_row: int, hard_limit: int, soft_limit: int
) -> bool:
    """Stop mailing an address whose latest deliveries bounced too often in a row.

    Hard bounces (5.x.x) suppress after `hard_limit` in a row; any bounce, soft ones
    (4.x.x reported as failed) included, after `soft_limit` in a row. Sources: checklist
    C4 (RFC 3464 DSN parsing, retry 4.x.x, suppress after repeated 5.x.x); Google and
    Yahoo bulk-sender rules (keep bounces low); NEWSLETTER_BOUNCE_HARD_LIMIT/_SOFT_LIMIT.
    """
    return (hard_limit > 0 and hard_in_a_row >= hard_limit) or (
        soft_limit > 0 and bounces_in_a_row >= soft_limit
    )


def complaint_rate_level(complaints: int, sent: int) -> str:
    """ "ok", "warning" at 0.1 % complaints, "pause" at 0.3 % (of messages handed over).

    Source: checklist C3 (warn at 0.1 %, pause at 0.3 %); Google's and Yahoo's 2024
    sender requirements (spam rate below 0.3 %, aim for 0.1 %).
    """
    rate = complaints / sent if sent else 0.0
    if rate >= COMPLAINT_PAUSE_RATE:
        return "pause"
    if rate >= COMPLAINT_WARNING_RATE:
        return "warning"
    return "ok"
