"""The import's columns, outcomes and report, and the state one import carries
(the rows seen so far, kept in a temporary table)."""

from __future__ import annotations

import json
import re
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..models import (
    Basis,
    Topic,
)

# The consent evidence columns (basis consent) and the customer's (existing-customer);

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
# once the domain is known to be valid (see normalise_address).
PLAIN_ADDRESS = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([a-z0-9-]+(?:\.[a-z0-9-]+)+)"
)


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (nothing is written); the message says why."""


class SkipRow(Exception):
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
class ImportRow:
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
class ImportContext:
    basis: str
    source: str
    now: datetime
    topics: dict[str, Topic]
    interval_days: int
    basis_days: int
    actor: str
    report: ImportReport
    seen: SeenAddresses
    domains: dict[str, bool] = field(default_factory=dict)


_seen_table = Table(
    "import_seen",
    MetaData(),
    Column("address_hash", String(64), primary_key=True),
    Column("line", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)


class SeenAddresses:
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
