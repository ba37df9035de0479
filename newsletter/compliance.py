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
FOOTER_REASON = "You receive this email because"
_FIELD_START = re.compile(r"\r?\n(?![ \t])")  # a line break not followed by a fold
_FOLD = re.compile(r"\r?\n[ \t]")
_MESSAGE_ID = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")
_LIST_ID = re.compile(r"<[^<>\s]+>\s*$")
_ANGLED = re.compile(r"<([^<>\s]+)>")


def check_marketing_message(message) -> list[str]:
    """Every problem that forbids handing this marketing message to SMTP (empty: fine).

    Both opt-outs in the medium used, in headers and in both body parts: the
    unsubscribe-from-all link and the preferences link, plus the sender's identity and
    why the person gets the message. Sources: SPEC rule 4 and "Every marketing message";
    Belgian DPA decision 19/2021; ePrivacy Art. 13(4); RFC 2369, RFC 8058, RFC 5322;
    checklist A1-A4, A8, A9, B6, B7, F. Takes raw bytes or an `email` message.
    """
    if isinstance(message, bytes | bytearray):
        raw = bytes(message)
    else:  # serialise as parsed: refolding long header lines would alter the URLs
        raw = message.as_bytes(policy=message.policy.clone(max_line_length=None))
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    missing: list[str] = []
    text, page = _alternative_parts(parsed, missing)
    return _rule_4_problems(parsed, raw.split(b"\n"), text, page, missing)


def check_marketing_parts(head: str, text: str, page: str) -> list[str]:
    """`check_marketing_message` for a message the sender built itself, without parsing it.

    The same rules on the same text: the header block as written, and the text and HTML
    bodies as they are before base64, which is what a mail client decodes. What this does
    not see is the MIME skeleton around the two bodies (boundaries, part headers, base64
    lines of 76 octets); it is the same for every message of a prepared campaign, and the
    sender checks one whole message of each prepared campaign with
    `check_marketing_message` before any message of it goes out. SPEC rule 4, as above.
    """
    return _rule_4_problems(_HeaderBlock(head), head.encode("utf-8").split(b"\n"), text, page, [])


def _rule_4_problems(headers, lines, text: str | None, page: str | None, missing) -> list[str]:
    problems = _header_problems(headers)
    if any(len(line) > 998 for line in lines):
        problems.append("a line is longer than 998 octets (RFC 5322 2.1.1)")
    unsubscribe = _one_https_unsubscribe(headers, problems)
    preferences = _angle_url(headers.get("List-Help", ""))
    problems += missing
    identity = [html.unescape(_config(k)) for k in ("ORGANIZATION_NAME", "ORGANIZATION_ADDRESS")]
    for label, part in (("text", text), ("HTML", page)):
        if part is None:
            continue
        if unsubscribe and unsubscribe not in part:
            problems.append(f"the {label} part lacks the unsubscribe-from-all link")
        if preferences and preferences not in part:
            problems.append(f"the {label} part lacks the preferences link")
        # Unescaped only when not found as it is (unescaping a whole page is the dear part).
        if any(n not in part and n not in html.unescape(part) for n in identity):
            problems.append(f"the {label} part lacks the sender's name and postal address")
        if FOOTER_REASON not in part:
            problems.append(f"the {label} part does not say why the person receives it")
    if page is not None and unsubscribe and f'href="{unsubscribe}"' not in page:
        problems.append("the unsubscribe link is not a clickable link in the HTML part")
    return problems


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
            problems.append(f"{name} header present {count} times, must be exactly once")
    if not _MESSAGE_ID.fullmatch((parsed.get("Message-ID") or "").strip()):
        problems.append("Message-ID is not of the form <id@domain>")
    if (parsed.get("List-Unsubscribe-Post") or "").strip() != ONE_CLICK:
        problems.append(f"List-Unsubscribe-Post must be exactly '{ONE_CLICK}' (RFC 8058)")
    if not _LIST_ID.search(_unfold(parsed.get("List-Id") or "")):
        problems.append("List-Id has no <list-id> (RFC 2919)")
    if not _angle_url(parsed.get("List-Help") or "").startswith("https://"):
        problems.append("List-Help must point to the https preferences page (RFC 2369)")
    if parsed.get_content_type() != "multipart/alternative":
        problems.append("the message is not multipart/alternative (text and HTML)")
    return problems


def _unfold(value: str) -> str:
    return _FOLD.sub(" ", str(value))


def _angle_url(value) -> str:
    found = _ANGLED.findall(_unfold(value or ""))
    return found[0] if len(found) == 1 else ""


def _one_https_unsubscribe(parsed, problems: list[str]) -> str:
    uris = _ANGLED.findall(_unfold(parsed.get("List-Unsubscribe") or ""))
    https = [u for u in uris if u.startswith("https://")]
    others = [u for u in uris if not u.startswith(("https://", "mailto:"))]
    if len(https) != 1 or others:
        problems.append("List-Unsubscribe must hold exactly one https URI (and a mailto)")
        return ""
    return https[0]


def _alternative_parts(parsed, problems: list[str]) -> tuple[str | None, str | None]:
    found: dict[str, str] = {}
    for part in parsed.walk():
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and kind not in found:
            payload = part.get_payload(decode=True) or b""
            found[kind] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    for kind, label in (("text/plain", "text"), ("text/html", "HTML")):
        if kind not in found:
            problems.append(f"the message has no {label} part")
    return found.get("text/plain"), found.get("text/html")


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
