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

Modules: report (the columns, outcomes and the report), reading (import_csv: the file,
row by row), rows (one row: parse, validate, decide), chunks (a chunk: bulk look-ups and
bulk writes), uploads (files awaiting the admin's confirmation).
"""

from __future__ import annotations

from .chunks import (
    write_chunk,
)
from .reading import (
    DELIMITERS,
    import_csv,
)
from .report import (
    ACTIVE,
    CHUNK_SIZE,
    COLUMNS,
    CONSENT_EVIDENCE,
    CUSTOMER,
    CUSTOMER_EVIDENCE,
    EVIDENCE_LIMITS,
    EXAMPLE_FILES,
    KEPT_ROWS,
    OUTCOMES,
    SKIPPED,
    SPOOL_BYTES,
    UNCHANGED,
    UPDATED,
    ImportFileError,
    ImportReport,
    RowOutcome,
    SkipRow,
)
from .rows import (
    normalise_address,
)
from .uploads import (
    purge_stale_uploads,
    upload_folder,
)

__all__ = [
    "ACTIVE",
    "CUSTOMER",
    "SKIPPED",
    "UNCHANGED",
    "UPDATED",
    "CONSENT_EVIDENCE",
    "CUSTOMER_EVIDENCE",
    "COLUMNS",
    "EVIDENCE_LIMITS",
    "EXAMPLE_FILES",
    "OUTCOMES",
    "CHUNK_SIZE",
    "KEPT_ROWS",
    "SPOOL_BYTES",
    "ImportFileError",
    "SkipRow",
    "RowOutcome",
    "ImportReport",
    "import_csv",
    "DELIMITERS",
    "normalise_address",
    "write_chunk",
    "upload_folder",
    "purge_stale_uploads",
]
