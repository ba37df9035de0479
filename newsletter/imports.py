"""Lawful imports of existing lists (checklist D7), streamed and all-or-nothing.

`import_csv` reads the file row by row (never whole), decides every row's outcome, and
writes the accepted rows in chunks with bulk look-ups and bulk inserts. Its memory does
not grow with the file: the addresses seen so far (for "duplicate of line N") are kept
in a temporary table of the import's own database connection, the skipped rows in a
temporary file, and the preview keeps only the rows it lists (KEPT_ROWS). Bad rows are
skipped and reported with their line number and reason; the valid rows go in together,
in the caller's one transaction (the command or view commits once, or rolls back: never
a half import). A file the CSV reader cannot read at all aborts the whole import.
`dry_run=True` decides every row exactly the same way and writes nothing (the preview).

Outcomes per row:
  active     new, basis consent, with complete and current evidence of the consent
             (wording or its reference, when, where, how, earlier system)
  customer   new, basis existing-customer (`purchased_at` within CUSTOMER_BASIS_DAYS,
             `optout_offered`, own-similar-products topics)
  updated    already known: topics added or evidence raised, never lowered
  unchanged  already known with all of it
  skipped    reported with its reason, nothing written: among them every consent row
             without complete, current evidence (never mailed: see docs/IMPORTS.md)

Every written row gets an "import" consent event and, with it, an `ImportEvidence` row
holding what the row proves and who declared the people to be the business's own.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
import uuid
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, islice
from pathlib import Path
from typing import TextIO

from flask import current_app
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

from . import audit, compliance, i18n
from .addresses import InvalidAddress, address_hash, normalise
from .clock import as_utc, utcnow
from .defaults import DEFAULT_TOPIC_SLUG
from .extensions import db
from .models import (
    Basis,
    Channel,
    ConsentEvent,
    ImportEvidence,
    LapsedBasis,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    Topic,
    new_public_id,
)

# The consent evidence columns (basis consent) and the customer's (existing-customer);
# docs/IMPORTS.md describes each, and newsletter/static/ holds complete example files.
CONSENT_EVIDENCE = (
    "consent_text",
    "consent_text_ref",
    "consent_where",
    "consent_how",
    "consent_system",
)
CUSTOMER_EVIDENCE = ("optout_offered",)
COLUMNS = (
    "email",
    "name",
    "topics",
    "consented_at",
    "purchased_at",
    "locale",
    *CONSENT_EVIDENCE,
    *CUSTOMER_EVIDENCE,
)
EVIDENCE_LIMITS = {"consent_text": 5000, "consent_system": 200}  # others: 500 characters
EXAMPLE_FILES = {
    Basis.CONSENT: "import-example-consent.csv",
    Basis.EXISTING_CUSTOMER: "import-example-customers.csv",
}
ACTIVE, CUSTOMER, UPDATED, UNCHANGED, SKIPPED = (
    "active",
    "customer",
    "updated",
    "unchanged",
    "skipped",
)
OUTCOMES = (ACTIVE, CUSTOMER, UPDATED, UNCHANGED, SKIPPED)
CHUNK_SIZE = 1000
KEPT_ROWS = 2000  # rows of a preview listed one by one (every row is counted)
SPOOL_BYTES = 1 << 20  # skipped rows are kept in memory up to this, then in a file
# A plain ASCII dot-atom address; for these `addresses.normalise` is exactly lower-casing,
# once the domain is known to be valid (see _normalise).
_PLAIN = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([a-z0-9-]+(?:\.[a-z0-9-]+)+)"
)


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (nothing is written); the message says why."""


class _Skip(Exception):
    """One row is skipped; the message is the reason reported."""


@dataclass
class RowOutcome:
    """The decision for one row. `email` is kept only for the admin's preview page."""

    line: int
    outcome: str
    reason: str = ""
    email: str = ""


@dataclass
class ImportReport:
    """Counts and every skipped row; JSON-ready without any address (`as_json`).

    With `keep_rows` (the admin's preview) the outcomes of the first KEPT_ROWS rows are
    kept, with their address, in `rows`. Every skipped row is kept, without its address, in a
    temporary file (`skipped` reads them back in file order): a file of a million bad
    rows costs disk, not memory.
    """

    basis: str
    source: str
    dry_run: bool
    batch: str = field(default_factory=lambda: uuid.uuid4().hex)
    counts: dict = field(default_factory=lambda: dict.fromkeys(("rows", *OUTCOMES), 0))
    rows: list[RowOutcome] = field(default_factory=list)
    keep_rows: bool = False
    _skipped: tempfile.SpooledTemporaryFile = field(
        default_factory=lambda: tempfile.SpooledTemporaryFile(SPOOL_BYTES, "w+", encoding="utf-8"),
        repr=False,
        compare=False,
    )

    def __post_init__(self) -> None:
        weakref.finalize(self, self._skipped.close)  # closed with the report

    def add(self, outcome: RowOutcome) -> None:
        self.counts["rows"] += 1
        self.counts[outcome.outcome] += 1
        if self.keep_rows and len(self.rows) < KEPT_ROWS:
            self.rows.append(outcome)
        if outcome.outcome == SKIPPED:
            self._skipped.write(json.dumps([outcome.line, outcome.reason]) + "\n")

    @property
    def skipped(self) -> Iterator[RowOutcome]:
        """Every skipped row, by line, read back from the temporary file."""
        self._skipped.seek(0)
        for text in self._skipped:
            line, reason = json.loads(text)
            yield RowOutcome(line, SKIPPED, reason)

    def as_json(self, skipped: bool = True) -> dict:
        """The report printed by the CLI and stored nowhere: no address in it. Without
        `skipped`, the list of skipped rows is left out (the counts still say how many)."""
        report = {
            "batch": self.batch,
            "dry_run": self.dry_run,
            "basis": self.basis,
            "source": self.source,
            "counts": self.counts,
        }
        if skipped:
            report["skipped"] = list(self._skipped_json())
        return report

    def _skipped_json(self) -> Iterator[dict]:
        return ({"line": row.line, "reason": row.reason} for row in self.skipped)

    def json_text(self) -> Iterator[str]:
        """`as_json()` as indented JSON text, in pieces: a skipped row at a time."""
        head = json.dumps(self.as_json(skipped=False), indent=2, ensure_ascii=False)
        yield head.removesuffix("\n}") + ',\n  "skipped": ['
        for number, item in enumerate(self._skipped_json()):
            yield ("," if number else "") + "\n    " + json.dumps(item, ensure_ascii=False)
        yield "\n  ]\n}" if self.counts[SKIPPED] else "]\n}"


@dataclass
class _Row:
    """A parsed, valid row (before the look-ups of its chunk)."""

    line: int
    address: str
    digest: str
    name: str | None
    locale: str
    topics: list[Topic]
    consented_at: datetime | None
    purchased_at: datetime | None
    evidence: dict[str, str | None] = field(default_factory=dict)
    outcome: str = ""
    note: str = ""
    add_topics: list[Topic] = field(default_factory=list)


@dataclass
class _Context:
    basis: str
    source: str
    now: datetime
    topics: dict[str, Topic]
    interval_days: int
    basis_days: int
    actor: str
    report: ImportReport
    seen: _SeenAddresses
    domains: dict[str, bool] = field(default_factory=dict)


_seen_table = Table(
    "import_seen",
    MetaData(),
    Column("address_hash", String(64), primary_key=True),
    Column("line", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)


class _SeenAddresses:
    """The line on which each address of the file first stood, for "duplicate of line
    N": a temporary table of the import's own database connection (a million-row file
    would otherwise hold a million addresses in memory), keyed by the address hash.
    Created empty for each import and dropped at its end (after a failure too, where the
    connection still allows it); one left behind goes with the rollback (PostgreSQL) or
    is dropped by the next import on that connection (SQLite)."""

    def __init__(self) -> None:
        self.connection = db.session.connection()
        schema = "pg_temp" if self.connection.dialect.name == "postgresql" else "temp"
        self.drop_sql = f"DROP TABLE IF EXISTS {schema}.{_seen_table.name}"
        self.connection.exec_driver_sql(self.drop_sql)
        _seen_table.create(self.connection)

    def first_lines(self, rows: list[tuple[str, int]]) -> dict[str, int]:
        """{hash: first line} for these (hash, line) pairs of one chunk, in file order;
        the hashes not seen before are recorded with their line."""
        first: dict[str, int] = {}
        if not rows:
            return first
        column = _seen_table.c.address_hash
        known = select(column, _seen_table.c.line).where(column.in_([h for h, _ in rows]))
        first.update((digest, line) for digest, line in self.connection.execute(known))
        new = []
        for digest, line in rows:
            if digest not in first:
                first[digest] = line
                new.append({"address_hash": digest, "line": line})
        if new:
            self.connection.execute(_seen_table.insert(), new)
        return first

    def drop(self) -> None:
        self.connection.exec_driver_sql(self.drop_sql)

    def discard(self) -> None:
        """Drop it after a failure, if the connection still can (else see the class)."""
        try:
            self.drop()
        except SQLAlchemyError:
            pass


# --- entry point -----------------------------------------------------------------------


def import_csv(
    stream: TextIO,
    basis: str,
    source: str,
    own_contacts: bool,
    *,
    actor: str = "cli",
    dry_run: bool = False,
    keep_rows: bool = False,
) -> ImportReport:
    """Import (or, with dry_run, preview) a CSV stream; flushes, the caller commits.

    `own_contacts` is the operator's declaration (`compliance.OWN_CONTACTS_DECLARATION`):
    the people gave their consent to, or bought from, this business itself. Raises
    ComplianceError (no source description or no declaration) or ImportFileError (not a
    readable CSV with an `email` column); in both cases nothing has been written.
    """
    if basis not in Basis.ALL:
        raise ImportFileError(f"The basis must be one of {', '.join(Basis.ALL)}.")
    compliance.require_own_contacts_declaration(source, own_contacts)
    report = ImportReport(basis=basis, source=source.strip(), dry_run=dry_run, keep_rows=keep_rows)
    ctx = _Context(
        basis=basis,
        source=report.source[:200],
        now=utcnow(),
        topics={t.slug: t for t in db.session.scalars(select(Topic))},
        interval_days=int(current_app.config["RECONSENT_INTERVAL_DAYS"]),
        basis_days=int(current_app.config["CUSTOMER_BASIS_DAYS"]),
        actor=actor[:320],
        report=report,
        seen=_SeenAddresses(),
    )
    try:
        for chunk in _chunks(_read_rows(stream), CHUNK_SIZE):
            _import_chunk(chunk, ctx, dry_run)
    except BaseException:
        ctx.seen.discard()
        raise
    ctx.seen.drop()
    if not dry_run:
        audit.record(actor, "import", report.batch, **report.counts)
    return report


def _read_rows(stream: TextIO) -> Iterator[tuple[int, dict]]:
    """(line number, row) pairs; file-level problems become ImportFileError.

    The delimiter is read from the header line: a comma, or the semicolon that Excel
    writes where the decimal sign is a comma (Belgium, the Netherlands, France), or a
    tab. A UTF-8 byte order mark (Excel's "CSV UTF-8") is ignored.
    """
    try:
        first = stream.readline()
        delimiter = _delimiter(first)
        reader = csv.reader(chain([first], stream), delimiter=delimiter)
        header = [h.strip().lower() for h in next(reader, [])]
        if header:
            header[0] = header[0].lstrip("\ufeff").strip()
        _check_header(header)
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # blank lines are not rows
            if len(cells) > len(header):
                yield reader.line_num, {"__extra__": True}
                continue
            yield reader.line_num, dict(zip(header, cells, strict=False))
    except csv.Error as exc:
        raise ImportFileError(f"Line {reader.line_num}: not readable as CSV ({exc}).") from exc
    except UnicodeDecodeError as exc:
        # No line number: the text is decoded in blocks, ahead of the CSV reader.
        raise ImportFileError(
            f"The file is not UTF-8 text (it holds the byte 0x{exc.object[exc.start]:02X}). "
            'In Excel use Save As and choose "CSV UTF-8"; a plain "CSV" from Excel on '
            "Windows is in the Windows-1252 encoding, whose accented letters cannot be read "
            "reliably."
        ) from exc


DELIMITERS = (",", ";", "\t")


def _delimiter(first_line: str) -> str:
    """The delimiter of the header line: the one that splits off a column named
    `email`, else the one found most often (a comma when there is none)."""
    text = first_line.lstrip("\ufeff")
    for candidate in DELIMITERS:
        cells = next(csv.reader([text], delimiter=candidate), [])
        if "email" in (cell.strip().lower() for cell in cells):
            return candidate
    return max(DELIMITERS, key=text.count) if any(d in text for d in DELIMITERS) else ","


def _check_header(header: list[str]) -> None:
    if "email" not in header:
        found = ", ".join(repr(h[:40]) for h in header[:8]) or "nothing"
        raise ImportFileError(
            "The first line must name the columns, separated by commas or semicolons, "
            f"including 'email' (found {found})."
        )
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise ImportFileError(
            f"Unknown column(s) {', '.join(repr(h) for h in unknown)}; "
            f"the columns are {', '.join(COLUMNS)}."
        )
    if len(set(header)) != len(header):
        raise ImportFileError("A column is named twice in the first line.")


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


# --- one row: parse and validate --------------------------------------------------------


def _address(cells: dict, ctx: _Context) -> str:
    """The row's address, normalised, or _Skip with the reason."""
    if cells.get("__extra__"):
        raise _Skip("more cells than columns (a comma inside a value must be quoted)")
    try:
        return _normalise(cells.get("email", ""), ctx.domains)
    except InvalidAddress as exc:
        raise _Skip(f"invalid address: {exc}") from exc


def _parse(line: int, cells: dict, address: str, digest: str, ctx: _Context) -> _Row:
    """A valid row (its address already checked and not a duplicate), or _Skip."""
    return _Row(
        line=line,
        address=address,
        digest=digest,
        name=_name(cells.get("name", "")),
        locale=_locale(cells.get("locale", "")),
        topics=_topics(cells.get("topics", ""), ctx),
        consented_at=_date(cells, "consented_at", ctx.now),
        purchased_at=_date(cells, "purchased_at", ctx.now),
        evidence={c: _evidence(cells, c) for c in (*CONSENT_EVIDENCE, *CUSTOMER_EVIDENCE)},
    )


def _normalise(raw: str, domains: dict[str, bool]) -> str:
    """`addresses.normalise`, with the domain checked once per import (it dominates).

    A plain ASCII address on a domain already found valid normalises to itself in lower
    case; anything else goes through `normalise` in full. tests/test_import.py checks
    that both give the same answer.
    """
    text = raw.strip().lower()
    match = _PLAIN.fullmatch(text) if len(text) <= 254 else None
    if match is None or len(text) - len(match.group(1)) > 65:
        return normalise(raw)
    domain = match.group(1)
    if domain not in domains:
        try:
            normalise(f"a@{domain}")
            domains[domain] = True
        except InvalidAddress:
            domains[domain] = False
    return text if domains[domain] else normalise(raw)


def _name(raw: str) -> str | None:
    text = raw.strip()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise _Skip("name contains line breaks or control characters")
    if len(text) > 200:
        raise _Skip("name longer than 200 characters")
    return text or None


def _locale(raw: str) -> str:
    """A supported language for the row (`nl_BE`, `NL`, `fr-be` ... -> nl/fr/en); a
    well-formed but unsupported one (`de`) gets the default language; not a locale at
    all: the row is skipped (docs/IMPORTS.md)."""
    text = raw.strip()
    if not text:
        return i18n.default_language()
    language = i18n.normalize_locale(text)
    if language is None and not i18n.is_locale_code(text):
        raise _Skip(f"invalid locale {text[:20]!r} (use a language code such as nl, fr, en)")
    return language or i18n.default_language()


def _topics(raw: str, ctx: _Context) -> list[Topic]:
    # `;` between slugs; a `,` too (a slug has neither), as typed in a semicolon file's cell
    parts = re.split(r"[;,]", raw)
    slugs = list(dict.fromkeys(s.strip().lower() for s in parts if s.strip()))
    if not slugs:
        slugs = [DEFAULT_TOPIC_SLUG]  # an empty cell means the newsletter itself
    unknown = [s for s in slugs if s not in ctx.topics]
    if unknown:
        raise _Skip(f"unknown topic(s): {', '.join(s[:64] for s in unknown)}")
    return [ctx.topics[s] for s in slugs]


def _evidence(cells: dict, column: str) -> str | None:
    """An evidence cell as written (trimmed), or None when empty; _Skip when unusable."""
    text = cells.get(column, "").strip()
    multiline = column == "consent_text"  # a consent wording may have paragraphs
    allowed = "\n\r\t" if multiline else ""
    if any((ord(ch) < 32 and ch not in allowed) or ord(ch) == 127 for ch in text):
        raise _Skip(f"{column} contains control characters")
    limit = EVIDENCE_LIMITS.get(column, 500)
    if len(text) > limit:
        raise _Skip(f"{column} longer than {limit} characters")
    return text or None


def _date(cells: dict, column: str, now: datetime) -> datetime | None:
    raw = cells.get(column, "").strip()
    if not raw:
        return None
    try:
        value = as_utc(datetime.fromisoformat(raw))
    except ValueError:
        raise _Skip(f"bad date in {column}: {raw[:40]!r} (use YYYY-MM-DD)") from None
    if value > now:
        raise _Skip(f"{column} is in the future")
    return value


# --- one row: decide ---------------------------------------------------------------------


def _decide(row: _Row, existing: Subscriber | None, ctx: _Context) -> None:
    """Set row.outcome (and what to add); raise _Skip when the row may not go in.

    A consent row changes nothing without complete, current evidence: a new person, or
    a new topic for a known one, is then skipped with the reason (never mailed).
    """
    if ctx.basis == Basis.EXISTING_CUSTOMER:
        _check_customer_row(row, ctx)
        problem = None
    else:
        problem = _consent_problem(row, ctx)
        if problem:
            row.consented_at = None  # not evidence: raises nothing on a known subscriber
    if existing is None:
        if problem:
            raise _Skip(problem)
        row.add_topics = list(row.topics)
        row.outcome = CUSTOMER if ctx.basis == Basis.EXISTING_CUSTOMER else ACTIVE
        return
    row.add_topics = _topics_to_add(row, existing, ctx)
    if row.add_topics and problem:
        raise _Skip(problem)
    row.outcome = UPDATED if row.add_topics or _raises_evidence(row, existing, ctx) else UNCHANGED


def _consent_problem(row: _Row, ctx: _Context) -> str | None:
    """Why this consent row's evidence does not allow it in (None: it does)."""
    evidence = row.evidence
    missing = compliance.missing_consent_evidence(
        row.consented_at,
        evidence["consent_text"],
        evidence["consent_text_ref"],
        evidence["consent_where"],
        evidence["consent_how"],
        evidence["consent_system"],
    )
    if missing:
        return (
            f"no evidence of consent ({', '.join(missing)} missing): not imported and not "
            "mailed; see docs/IMPORTS.md"
        )
    if not compliance.imported_consent_current(row.consented_at, ctx.now, ctx.interval_days):
        return (
            f"consent of {row.consented_at.date().isoformat()} is older than the re-consent "
            f"interval ({ctx.interval_days} days): not imported and not mailed"
        )
    return None


def _check_customer_row(row: _Row, ctx: _Context) -> None:
    """_Skip unless the row proves a current purchase, an opt-out offered at collection,
    and asks only for own-similar-products topics."""
    if row.purchased_at is None:
        raise _Skip("existing-customer rows need purchased_at (evidence of a purchase)")
    if not compliance.imported_purchase_current(row.purchased_at, ctx.now, ctx.basis_days):
        raise _Skip(
            f"purchase of {row.purchased_at.date().isoformat()} is older than "
            f"CUSTOMER_BASIS_DAYS ({ctx.basis_days} days): no longer an existing customer"
        )
    if not compliance.customer_optout_offered_at_collection(row.evidence["optout_offered"]):
        raise _Skip(
            "optout_offered is empty: say how the customer was offered to refuse marketing "
            "mail when the address was collected (ePrivacy 13(2))"
        )
    refused = [
        t.slug
        for t in row.topics
        if not compliance.basis_allowed_for_topic(Basis.EXISTING_CUSTOMER, t)
    ]
    if refused:
        raise _Skip(
            f"topic(s) {', '.join(refused)} not marked own-similar-products: existing "
            "customers may only get those without consent"
        )


def _topics_to_add(row: _Row, subscriber: Subscriber, ctx: _Context) -> list[Topic]:
    """Topics the row adds: new ones, or held ones it raises (customer -> consent)."""
    held = {s.topic_id: s for s in subscriber.subscriptions}
    added = []
    for topic in row.topics:
        current = held.get(topic.id)
        if current is None:
            added.append(topic)
        elif (
            ctx.basis == Basis.CONSENT
            and row.consented_at
            and (current.confirmed_at is None or current.basis != Basis.CONSENT)
        ):
            added.append(topic)  # evidence raises an unconfirmed or soft-opt-in topic
    return added


def _raises_evidence(row: _Row, subscriber: Subscriber, ctx: _Context) -> bool:
    if ctx.basis == Basis.EXISTING_CUSTOMER:
        return subscriber.purchased_at is None or row.purchased_at > subscriber.purchased_at
    return row.consented_at is not None and (
        subscriber.consented_at is None or row.consented_at > subscriber.consented_at
    )


# --- a chunk: look up, decide, write --------------------------------------------------------


def _import_chunk(chunk: list[tuple[int, dict]], ctx: _Context, dry_run: bool) -> None:
    outcomes: list[RowOutcome] = []  # reported in line order once the chunk is decided
    addressed = []  # (line, cells, address, hash) of the rows with a valid address
    for line, cells in chunk:
        try:
            address = _address(cells, ctx)
        except _Skip as skip:
            outcomes.append(RowOutcome(line, SKIPPED, str(skip), _raw_email(cells)))
        else:
            addressed.append((line, cells, address, address_hash(address)))
    first = ctx.seen.first_lines([(digest, line) for line, _, _, digest in addressed])
    rows: list[_Row] = []
    for line, cells, address, digest in addressed:
        try:
            if first[digest] != line:
                raise _Skip(f"duplicate of line {first[digest]}")
            rows.append(_parse(line, cells, address, digest, ctx))
        except _Skip as skip:
            outcomes.append(RowOutcome(line, SKIPPED, str(skip), address))
    suppressed = _suppressed([r.digest for r in rows])
    lapsed = _lapsed([r.digest for r in rows], ctx.basis)
    existing = _existing([r.address for r in rows])
    accepted = []
    for row in rows:
        try:
            if row.digest in suppressed:
                raise _Skip(f"address is suppressed ({suppressed[row.digest]}); never re-added")
            if row.digest in lapsed:
                _check_not_lapsed(row, lapsed[row.digest], ctx)
            _decide(row, existing.get(row.address), ctx)
        except _Skip as skip:
            outcomes.append(RowOutcome(row.line, SKIPPED, str(skip), row.address))
            continue
        accepted.append(row)
        outcomes.append(RowOutcome(row.line, row.outcome, row.note, row.address))
    for outcome in sorted(outcomes, key=lambda outcome: outcome.line):
        ctx.report.add(outcome)
    if not dry_run:
        _write(accepted, existing, ctx)


def _raw_email(cells: dict) -> str:
    return str(cells.get("email", ""))[:320]


def _suppressed(digests: list[str]) -> dict[str, str]:
    """{hash: reason} of the addresses suppressed on email (opted out, objected, lapsed)."""
    if not digests:
        return {}
    query = select(Suppression.address_hash, Suppression.reason).where(
        Suppression.address_hash.in_(digests), Suppression.channel == Channel.EMAIL
    )
    return dict(db.session.execute(query).all())


def _lapsed(digests: list[str], basis: str) -> dict[str, LapsedBasis]:
    """The markers of this basis having lapsed for these hashes."""
    if not digests:
        return {}
    query = select(LapsedBasis).where(
        LapsedBasis.address_hash.in_(digests), LapsedBasis.basis == basis
    )
    return {m.address_hash: m for m in db.session.scalars(query)}


def _check_not_lapsed(row: _Row, marker: LapsedBasis, ctx: _Context) -> None:
    evidence = row.purchased_at if ctx.basis == Basis.EXISTING_CUSTOMER else row.consented_at
    if compliance.imported_evidence_already_lapsed(evidence, marker.evidence_date):
        lapsed = marker.evidence_date.date().isoformat() if marker.evidence_date else "none"
        column = "purchased_at" if ctx.basis == Basis.EXISTING_CUSTOMER else "consented_at"
        raise _Skip(
            f"the {ctx.basis} basis of this person lapsed on "
            f"{marker.lapsed_at.date().isoformat()} (evidence of {lapsed}); only a newer "
            f"{column} can bring them back"
        )


def _existing(addresses: list[str]) -> dict[str, Subscriber]:
    if not addresses:
        return {}
    query = (
        select(Subscriber)
        .options(selectinload(Subscriber.subscriptions))
        .where(Subscriber.email.in_(addresses))
    )
    return {s.email: s for s in db.session.scalars(query)}


def _write(rows: list[_Row], existing: dict[str, Subscriber], ctx: _Context) -> None:
    """Insert new subscribers in bulk, update known ones, record events and evidence."""
    new = [r for r in rows if r.address not in existing]
    ids = _insert_subscribers(new, ctx)
    for row in rows:
        if row.address in existing and row.outcome != UNCHANGED:
            subscriber = existing[row.address]
            _update_subscriber(subscriber, row, ctx)
            ids[row.address] = subscriber.id
    db.session.flush()
    _insert_subscriptions(new, ids, ctx)
    written = [r for r in rows if r.outcome != UNCHANGED]
    events = _insert_events(written, ids, ctx)
    _insert_evidence(written, ids, events, ctx)


def _insert_subscribers(rows: list[_Row], ctx: _Context) -> dict[str, int]:
    if not rows:
        return {}
    values = [
        {
            "public_id": new_public_id(),
            "email": r.address,
            "name": r.name,
            "locale": r.locale,
            "status": SubscriberStatus.ACTIVE,
            "source": ctx.source,
            "created_at": ctx.now,
            "confirmed_at": r.consented_at,
            "consented_at": r.consented_at,
            "purchased_at": r.purchased_at,
        }
        for r in rows
    ]
    result = db.session.execute(
        insert(Subscriber).returning(Subscriber.email, Subscriber.id), values
    )
    return dict(result.all())


def _insert_subscriptions(rows: list[_Row], ids: dict[str, int], ctx: _Context) -> None:
    values = [
        {
            "subscriber_id": ids[r.address],
            "topic_id": t.id,
            "basis": ctx.basis,
            "created_at": ctx.now,
            "confirmed_at": _effective_from(r, ctx),
        }
        for r in rows
        for t in r.add_topics
    ]
    if values:
        db.session.execute(insert(Subscription), values)


def _effective_from(row: _Row, ctx: _Context) -> datetime | None:
    """When a subscription from this row takes effect: the date of the consent's
    evidence, or now for the existing-customer exception."""
    if ctx.basis == Basis.EXISTING_CUSTOMER:
        return ctx.now
    return row.consented_at


def _update_subscriber(subscriber: Subscriber, row: _Row, ctx: _Context) -> None:
    """Add topics and raise evidence on a known subscriber; never lower anything."""
    effective = _effective_from(row, ctx)
    held = {s.topic_id: s for s in subscriber.subscriptions}
    for topic in row.add_topics:
        current = held.get(topic.id)
        if current is None:
            subscriber.subscriptions.append(
                Subscription(
                    topic=topic, basis=ctx.basis, created_at=ctx.now, confirmed_at=effective
                )
            )
        else:  # consent with evidence replaces an unconfirmed or soft-opt-in footing
            current.basis, current.confirmed_at = Basis.CONSENT, effective
    if effective is not None and subscriber.status == SubscriberStatus.PENDING:
        subscriber.status = SubscriberStatus.ACTIVE
    if row.consented_at:  # evidence of a consent: it starts (or keeps) the re-consent clock
        subscriber.consented_at = compliance.reconsent_clock_after(
            subscriber.consented_at, row.consented_at, _covers_every_consent_list(subscriber, row)
        )
        subscriber.confirmed_at = subscriber.confirmed_at or row.consented_at
    if row.purchased_at and (subscriber.purchased_at or row.purchased_at) <= row.purchased_at:
        subscriber.purchased_at = row.purchased_at
    subscriber.name = subscriber.name or row.name


def _covers_every_consent_list(subscriber: Subscriber, row: _Row) -> bool:
    """Does the row's consent cover every consent list the person holds?"""
    row_topics = {topic.id for topic in row.topics}
    return all(
        s.topic_id in row_topics
        for s in subscriber.subscriptions
        if s.basis == Basis.CONSENT and s.confirmed_at is not None
    )


def _insert_events(rows: list[_Row], ids: dict[str, int], ctx: _Context) -> dict[int, int]:
    """One "import" consent event per row written; returns subscriber id -> event id."""
    if not rows:
        return {}
    values = [_event_values(r, ids[r.address], ctx) for r in rows]
    result = db.session.execute(
        insert(ConsentEvent).returning(ConsentEvent.subscriber_id, ConsentEvent.id), values
    )
    return dict(result.all())


def _event_values(row: _Row, subscriber_id: int, ctx: _Context) -> dict:
    evidence = _evidence_date(row, ctx)
    return {
        "subscriber_id": subscriber_id,
        "subject_hash": row.digest,
        "kind": "import",
        "occurred_at": ctx.now,
        # The wording agreed to earlier is in the event's ImportEvidence (consent_text or
        # consent_text_ref), not one of our consent texts: none was shown by us.
        "consent_text_id": None,
        "topics": [t.slug for t in (row.add_topics or row.topics)],
        "basis": ctx.basis,
        "source": ctx.source,
        "detail": {
            "batch": ctx.report.batch,
            "outcome": row.outcome,
            "evidence": "purchased_at" if ctx.basis == Basis.EXISTING_CUSTOMER else "consented_at",
            "evidence_date": evidence.isoformat() if evidence else None,
            "declaration": compliance.OWN_CONTACTS_DECLARATION.format(
                org=current_app.config["ORGANIZATION_NAME"]
            ),
            "declared_by": ctx.actor,
        },
    }


def _evidence_date(row: _Row, ctx: _Context) -> datetime | None:
    return row.purchased_at if ctx.basis == Basis.EXISTING_CUSTOMER else row.consented_at


def _insert_evidence(
    rows: list[_Row], ids: dict[str, int], events: dict[int, int], ctx: _Context
) -> None:
    """The ImportEvidence of each event: what the row proves, kept with the event."""
    if not rows:
        return
    customer = ctx.basis == Basis.EXISTING_CUSTOMER
    columns = CUSTOMER_EVIDENCE if customer else CONSENT_EVIDENCE
    values = [
        {
            "consent_event_id": events[ids[r.address]],
            "basis": ctx.basis,
            "given_at": _evidence_date(r, ctx),
            **dict.fromkeys((*CONSENT_EVIDENCE, *CUSTOMER_EVIDENCE)),
            **{column: r.evidence[column] for column in columns},
            "declared_by": ctx.actor,
        }
        for r in rows
    ]
    db.session.execute(insert(ImportEvidence), values)


# --- uploads awaiting confirmation (admin preview) ---------------------------------------


def upload_folder() -> Path:
    """Where uploads wait between preview and confirmation (IMPORT_UPLOAD_FOLDER)."""
    configured = current_app.config.get("IMPORT_UPLOAD_FOLDER")
    return Path(configured) if configured else Path(current_app.instance_path) / "imports"


def purge_stale_uploads(older_than: datetime) -> int:
    """Delete uploaded files (personal data) left unconfirmed since before `older_than`."""
    folder = upload_folder()
    if not folder.exists():
        return 0
    cutoff = older_than.timestamp()
    stale = [path for path in folder.glob("*.csv") if path.stat().st_mtime < cutoff]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)
