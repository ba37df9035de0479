"""The legal rules the software enforces, each one function, in one place.

Views, the sender, the importer and the jobs call these; none of them re-implements a
rule. Each docstring names the rule's source (SPEC "Legal rules" numbering, the seed
documents in shared/legal-sources/, and COMPLIANCE-CHECKLIST.md items). Each rule has a
test named after it in tests/test_compliance.py. docs/COMPLIANCE.md is the index.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser

from sqlalchemy import ColumnElement, Exists, and_, exists, func, or_, select

from .extensions import db
from .models import (
    Basis,
    Channel,
    ConfirmationSend,
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


# Imports (checklist D7): a basis per row, with its evidence, screened against
# suppression and lapsed bases; the operator declares the people are their own contacts.
# No wording of the source is judged: words cannot tell a bought list from a shop's own.

OWN_CONTACTS_DECLARATION = (
    "Every person in this file gave their consent to, or bought from, {org} itself: "
    "not a list bought, rented or borrowed from someone else, and no consent taken "
    "from a pre-ticked box."
)
IMPORT_EVIDENCE_COLUMNS = ("consent_where", "consent_how", "consent_system")


def require_own_contacts_declaration(source: str, declared: bool) -> None:
    """An import names where its people came from, and the operator declares, in terms,
    that they gave their consent to, or bought from, THIS business.

    Consent given to someone else is no consent to us, and a list seller's customers are
    not our customers; only the operator knows which it is, so the operator must say it
    (`--own-contacts`, the admin's required checkbox), and the declaration is stored with
    every imported row's evidence. The source text is not screened for words: "list
    purchased from MarketingCo" and "our shop's customers" are told apart by the
    declaration, not by a guess. Source: checklist D7 (ACM Daisycon); GDPR Art. 5(2) and
    7(1) (the controller demonstrates consent); seed "ap-advertising-consent-retention"
    ("Er is doorgaans ook toestemming nodig als u de adressen van een andere partij
    ontvangt"); ePrivacy Art. 13(2) (own customers only); CJEU Planet49 C-673/17 (no
    pre-ticked box). SPEC `flask subscribers import --own-contacts`.
    """
    text = (source or "").strip()
    if len(text) < 10:
        raise ComplianceError(
            "Describe where these people came from (at least 10 characters), e.g. "
            "'shop checkout 2024, newsletter box ticked'."
        )
    if not declared:
        raise ComplianceError(
            "Confirm that every person in the file gave their consent to, or bought from, "
            "this business itself (not a list bought, rented or borrowed from someone else)."
        )


def missing_consent_evidence(
    consented_at: datetime | None,
    consent_text: str | None,
    consent_text_ref: str | None,
    where: str | None,
    how: str | None,
    system: str | None,
) -> list[str]:
    """The evidence an imported consent lacks (empty: complete); such a row is not imported.

    To become active, an imported consent must show what was agreed (the wording, or a
    reference to where the exact wording is kept), when, where (form, URL, shop), how
    (e.g. "double opt-in on our old site") and from which earlier system. A row without
    it is skipped, not mailed: a mail asking such a person to confirm is itself an
    unsolicited commercial mail (see docs/IMPORTS.md). Source: GDPR Art. 7(1), 5(2);
    EDPB Guidelines 05/2020 §104-108 (demonstrate who, when, what information, how);
    seed "ap-advertising-consent-retention" ("moet kunnen aantonen dat u daadwerkelijk
    toestemming heeft gekregen"); seed "sending-newsletters-consent-checklist"
    ("Verstuur nooit nieuwsbrieven naar klanten die hun toestemming niet hebben
    gegeven"); checklist D7. SPEC import ("No consent row becomes active without stored
    evidence of what was agreed, when and where").
    """
    missing = [] if consented_at else ["consented_at"]
    if not (consent_text or consent_text_ref):
        missing.append("consent_text or consent_text_ref")
    for column, value in zip(IMPORT_EVIDENCE_COLUMNS, (where, how, system), strict=True):
        if not value:
            missing.append(column)
    return missing


def imported_consent_current(consented_at: datetime, now: datetime, interval_days: int) -> bool:
    """Is an imported consent recent enough to import, without asking again?

    Evidence older than the re-consent interval, or dated in the future, is not: such
    rows are skipped with the reason (an import never sends a mail asking again; see
    docs/IMPORTS.md). Source: SPEC rules 2 and 6; seed "ap-advertising-consent-retention"
    and "sending-newsletters-consent-checklist" (ask again every two years); checklist
    D6, D7.
    """
    return now - timedelta(days=interval_days) < consented_at <= now


def imported_purchase_current(purchased_at: datetime, now: datetime, basis_days: int) -> bool:
    """Is an imported purchase recent enough for the existing-customer exception?

    The same line as `customer_basis_lapsed`: a purchase older than `basis_days`
    (CUSTOMER_BASIS_DAYS, 730) no longer makes the person a customer whose expectations
    cover our mail, so a 2021 purchase imported in 2026 is skipped. Source: ePrivacy
    Directive Art. 13(2); Dutch Tw 11.7(3); Belgian KB 4-4-2003 art. 1; seed
    "direct-marketing-existing-customers" ("alléén mag als diegene daadwerkelijk klant
    van u is"); checklist E1; SPEC import ("a `purchased_at` within CUSTOMER_BASIS_DAYS").
    """
    return now - timedelta(days=basis_days) < purchased_at <= now


def customer_optout_offered_at_collection(statement: str | None) -> bool:
    """Does an imported customer's row say how the opt-out was offered when the address
    was collected?

    The exception applies only if the customer was clearly and distinctly given the
    chance to object, free of charge and easily, when the address was collected (and in
    every message after). The row's `optout_offered` column says how (e.g. "unticked
    box 'no offers by email' at checkout"); it is stored with the evidence. Source:
    ePrivacy Directive Art. 13(2); Dutch Tw 11.7(3)(b); Belgian KB 4-4-2003 art. 1, 2°;
    seed "direct-marketing-existing-customers" ("Tenzij diegene heeft aangegeven dit niet
    te willen"); checklist E1.
    """
    return bool((statement or "").strip())


def imported_evidence_already_lapsed(
    evidence_date: datetime | None, lapsed_date: datetime | None
) -> bool:
    """Is this imported evidence the same (or older) evidence whose basis already lapsed?

    When the existing-customer basis lapses, a marker keeps the keyed hash and the
    purchase date that lapsed (`models.LapsedBasis`); the same purchase may not start the
    basis again, only a newer one. Source: ePrivacy Directive Art. 13(2) (a current
    customer relationship); seed "ap-advertising-consent-retention" (after the period:
    "vernietigen of anonimiseren", not re-used); GDPR Art. 5(1)(e); SPEC rule 6.
    """
    if evidence_date is None:
        return True
    return lapsed_date is not None and evidence_date <= lapsed_date


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


# --- For the regulator: transfers, breaches (GDPR Art. 30, 33, 44-46) -------------------

# The EEA: the 27 EU member states and Iceland, Liechtenstein, Norway (ISO 3166-1 codes;
# "EL" is the EU's own code for Greece).
EEA_COUNTRIES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR EL HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE "
    "IS LI NO".split()
)
# Countries with an adequacy decision of the European Commission (GDPR Art. 45(3)).
ADEQUACY_DECISIONS = {
    "AD": "Andorra",
    "AR": "Argentina",
    "CA": "Canada (commercial organisations under PIPEDA only)",
    "CH": "Switzerland",
    "FO": "Faroe Islands",
    "GB": "United Kingdom",
    "GG": "Guernsey",
    "IL": "Israel",
    "IM": "Isle of Man",
    "JE": "Jersey",
    "JP": "Japan",
    "KR": "Republic of Korea",
    "NZ": "New Zealand",
    "US": "United States (only organisations certified under the EU-US Data Privacy "
    "Framework, decision of 10 July 2023)",
    "UY": "Uruguay",
}
# Names an operator may write instead of the code (English, Dutch, French), "|"-separated.
_COUNTRY_NAMES = {
    "AT": "austria|oostenrijk|autriche",
    "BE": "belgium|belgië|belgie|belgique",
    "BG": "bulgaria|bulgarije|bulgarie",
    "HR": "croatia|kroatië|croatie",
    "CY": "cyprus|chypre",
    "CZ": "czechia|czech republic|tsjechië|tchéquie",
    "DK": "denmark|denemarken|danemark",
    "EE": "estonia|estland|estonie",
    "FI": "finland|finlande",
    "FR": "france|frankrijk",
    "DE": "germany|duitsland|allemagne",
    "GR": "greece|griekenland|grèce",
    "HU": "hungary|hongarije|hongrie",
    "IE": "ireland|ierland|irlande",
    "IT": "italy|italië|italie",
    "LV": "latvia|letland|lettonie",
    "LT": "lithuania|litouwen|lituanie",
    "LU": "luxembourg|luxemburg",
    "MT": "malta|malte",
    "NL": "netherlands|the netherlands|nederland|pays-bas",
    "PL": "poland|polen|pologne",
    "PT": "portugal",
    "RO": "romania|roemenië|roumanie",
    "SK": "slovakia|slowakije|slovaquie",
    "SI": "slovenia|slovenië|slovénie",
    "ES": "spain|spanje|espagne",
    "SE": "sweden|zweden|suède",
    "IS": "iceland|ijsland|islande",
    "LI": "liechtenstein",
    "NO": "norway|noorwegen|norvège",
    "CH": "switzerland|zwitserland|suisse",
    "GB": "uk|united kingdom|verenigd koninkrijk|royaume-uni",
    "US": "usa|united states|verenigde staten|états-unis|etats-unis",
    "CA": "canada",
    "JP": "japan|japon",
}
COUNTRY_NAMES = {name: code for code, names in _COUNTRY_NAMES.items() for name in names.split("|")}


def country_code(country: str) -> str | None:
    """The ISO 3166-1 code of a country written as a code or a common name, else None."""
    text = " ".join(country.strip().lower().split())
    if len(text) == 2 and text.isalpha():
        return {"el": "GR", "uk": "GB"}.get(text, text.upper())
    return COUNTRY_NAMES.get(text)


def transfer_safeguard(country: str, documented: str | None = None) -> str | None:
    """What must be on record for personal data going to `country`; None inside the EEA.

    A processor outside the EEA is a transfer to a third country, lawful only under an
    adequacy decision (GDPR Art. 45) or with appropriate safeguards such as the
    Commission's standard contractual clauses (Art. 46(2)(c)); the record of processing
    names the third country (Art. 30(1)(e)) and the privacy notice the safeguard
    (Art. 13(1)(f)). A country that is not recognised is treated as outside the EEA: the
    operator must check it. `documented` is the safeguard the operator wrote down.
    """
    code = country_code(country)
    if code in EEA_COUNTRIES:
        return None
    if documented:
        return f"transfer outside the EEA; safeguard on record: {documented}"
    if code in ADEQUACY_DECISIONS:
        return (
            f"transfer outside the EEA, covered by the adequacy decision for "
            f"{ADEQUACY_DECISIONS[code]} (GDPR Art. 45): confirm it applies and record it "
            f'as "safeguard"'
        )
    where = code or f"{country!r}, not recognised as an EEA country"
    return (
        f"transfer outside the EEA ({where}) with no safeguard on record: sign the "
        f"Commission's standard contractual clauses (GDPR Art. 46(2)(c)) or another Art. 46 "
        f'safeguard with this processor, and record it as "safeguard"'
    )


BREACH_NOTIFICATION_HOURS = 72


def breach_notification_overdue(
    discovered_at: datetime, authority_notified: bool, now: datetime
) -> bool:
    """True when a breach discovered over 72 hours ago has not been notified.

    GDPR Art. 33(1): notify the supervisory authority without undue delay and, where
    feasible, within 72 hours of becoming aware of it, unless it is unlikely to result
    in a risk to people; a later notification gives the reasons for the delay. The log
    (Art. 33(5)) should then say why it was not notified (EDPB Guidelines 9/2022 §104).
    A warning for the admin, not a block: the controller makes the call.
    """
    due = discovered_at + timedelta(hours=BREACH_NOTIFICATION_HOURS)
    return not authority_notified and now > due


# --- Notice and plumbing: the contact and the mailto opt-out must reach someone ----------
# (issue 13, problem 7). Warnings for the operator (the admin's dashboard, and the log of
# `flask worker` and `flask run` at start), not blocks: only the operator can tell whether
# a person reads a mailbox.

# Local parts that say "nobody reads this" (case-insensitive, a "+tag" ignored): noreply,
# no-reply, no_reply, donotreply, do-not-reply, dontreply; in Dutch and French
# niet-antwoorden, geen-antwoord, ne-pas-repondre (also inside a longer name:
# newsletter-noreply@).
_NOREPLY_LOCAL_PART = re.compile(
    r"(no|do[-_.]?not|dont)[-_.]?reply|niet[-_.]?(be)?antwoorden|geen[-_.]?antwoord"
    r"|ne[-_.]?pas[-_.]?r[eé]pondre",
    re.IGNORECASE,
)


def looks_unread(address: str) -> bool:
    """Does the local part of `address` say that nobody reads it (noreply@, no-reply@,
    donotreply@ ...)?"""
    local = address.strip().rpartition("@")[0].split("+", 1)[0].strip("<\"' ")
    return bool(_NOREPLY_LOCAL_PART.search(local))


def privacy_contact_unread(config, contact: str) -> str | None:
    """A warning when the privacy notice's contact looks like a mailbox nobody reads.

    GDPR Art. 13(1)(a) (the notice gives the controller's contact details) and Art. 12(2)
    (the controller facilitates the exercise of the rights): a `noreply@` address, the
    usual sender of a newsletter and the notice's contact when NEWSLETTER_CONTROLLER_CONTACT
    is unset, promises an answer that never comes. None when the contact looks read.
    """
    if not looks_unread(contact):
        return None
    if config.get("CONTROLLER_CONTACT"):
        where = "NEWSLETTER_CONTROLLER_CONTACT is"
    else:
        where = "NEWSLETTER_CONTROLLER_CONTACT is unset, so the privacy notice falls back to"
    return (
        f"{where} {contact}, an address that says nobody reads it: people are told to write "
        "there to exercise their rights (GDPR Art. 12(2), 13(1)(a)). Set "
        "NEWSLETTER_CONTROLLER_CONTACT to a mailbox that a person reads, e.g. "
        "privacy@your-domain."
    )


def unsubscribe_mailto_unread(config, mailto_address: str, mailbox_polled: bool) -> str | None:
    """A warning when the `mailto:` in every message's List-Unsubscribe reaches nobody.

    Every message advertises, beside the one-click https link, `mailto:ADDRESS?subject=
    unsubscribe TOKEN` (messages.unsubscribe_mailto). RFC 2369 §3.2: List-Unsubscribe
    "describes the command (preferably using mail) to directly unsubscribe the user";
    RFC 8058 §3.1: beside its one HTTPS URI the field "MAY contain other non-HTTP/S URIs
    such as MAILTO:", which mail clients without one-click use. Each URI is a promise
    that using it unsubscribes: GDPR Art. 21(2)-(3) (an objection stops the processing)
    and the GBA (decision 19/2021; an opt-out offered must work, online, in the medium
    used) make a mailto that nothing reads an objection ignored. The app honours those
    mails itself only when it polls the mailbox they arrive in (NEWSLETTER_BOUNCE_MAILBOX_*,
    newsletter/inbound.py) and the mailto points at it (NEWSLETTER_UNSUBSCRIBE_MAILTO).

    `mailbox_polled`: a bounce mailbox is configured (inbound.configured()). None when
    the mailto is read by the app; otherwise the warning in plain words.
    """
    if not mailbox_polled:
        return (
            f"Every message offers unsubscribing by mail to {mailto_address}, but the app "
            "reads no mailbox, so those requests are never honoured. Set "
            "NEWSLETTER_BOUNCE_MAILBOX_PROTOCOL, _HOST, _USERNAME and _PASSWORD to the "
            "mailbox that receives them (and NEWSLETTER_UNSUBSCRIBE_MAILTO to its address): "
            "the worker then honours each request within minutes. Until then a person must "
            f"act on every mail to {mailto_address} within two days (RFC 2369, RFC 8058, "
            "GDPR Art. 21(3))."
        )
    if not config.get("UNSUBSCRIBE_MAILTO"):
        return (
            f"Every message offers unsubscribing by mail to {mailto_address} (the default: "
            "NEWSLETTER_UNSUBSCRIBE_MAILTO is unset), but the app reads the mailbox of "
            f"NEWSLETTER_BOUNCE_MAILBOX_HOST ({config.get('BOUNCE_MAILBOX_HOST')}), which "
            f"may not be where {mailto_address} is delivered. Set "
            "NEWSLETTER_UNSUBSCRIBE_MAILTO to the address of the polled mailbox (or to "
            f"{mailto_address} once it delivers there)."
        )
    return None
