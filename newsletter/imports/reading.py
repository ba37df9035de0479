"""`import_csv`: the file read row by row, in chunks."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import TextIO

from flask import current_app
from sqlalchemy import select

from .. import audit, compliance
from ..clock import utcnow
from ..extensions import db
from ..models import (
    Basis,
    Topic,
)

# The consent evidence columns (basis consent) and the customer's (existing-customer);
from .chunks import import_chunk
from .report import CHUNK_SIZE, COLUMNS, ImportContext, ImportFileError, ImportReport, SeenAddresses

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
    ctx = ImportContext(
        basis=basis,
        source=report.source[:200],
        now=utcnow(),
        topics={t.slug: t for t in db.session.scalars(select(Topic))},
        interval_days=current_app.config["RECONSENT_INTERVAL_DAYS"],
        basis_days=current_app.config["CUSTOMER_BASIS_DAYS"],
        actor=actor[:320],
        report=report,
        seen=SeenAddresses(),
    )
    try:
        for chunk in _chunks(_read_rows(stream), CHUNK_SIZE):
            import_chunk(chunk, ctx, dry_run)
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
