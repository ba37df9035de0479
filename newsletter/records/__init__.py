"""The record of processing activities of the newsletter (GDPR Art. 30), and its processors.

Built from the live configuration and the models, never written by hand, so that it
cannot drift from what the product does: the controller and contacts
(`ORGANIZATION_*`, `CONTROLLER_CONTACT`, `DPO_CONTACT`), the purposes (one per topic,
with its basis), the categories of personal data (every table and column of
`models/`, classified in `TABLES` (records/tables.py); a test fails when a table is added without
a decision), the retention periods (the configuration keys of
`compliance.RETENTION_PERIODS`), the recipients and processors (`PROCESSORS`, plus the
SMTP relay, bounce mailbox, database and rate-limit servers found in the configuration),
transfers outside the EEA (`compliance.transfer_safeguard`) and the security measures in
force.

`flask privacy record` prints it as Markdown (or JSON); the admin shows it at
/admin/records; docs/RECORD-OF-PROCESSING.md is the output for the default
configuration (tests/test_records.py keeps it current).

Art. 30(5) exempts organisations under 250 people only for occasional processing; a
newsletter is not occasional, so the record is required whatever the size.

Modules: core (the record's parts), tables (every table's category, from the models),
processors (processors and recipients, from the configuration), record (the record
itself, the notice's facts), markdown (docs/RECORD-OF-PROCESSING.md).
"""

from __future__ import annotations

from .core import (
    LOOPBACK,
    Category,
    Processor,
    Purpose,
    Record,
)
from .markdown import (
    render_markdown,
)
from .processors import (
    processors,
    recipients,
)
from .record import (
    as_dict,
    build_record,
    notice_facts,
)
from .tables import (
    FORMER,
    NOT_PERSONAL,
    RETENTION_EXTRA,
    STAFF,
    SUBSCRIBERS,
    TABLES,
    categories,
    in_words,
    period,
)

__all__ = [
    "LOOPBACK",
    "Processor",
    "Category",
    "Purpose",
    "Record",
    "SUBSCRIBERS",
    "FORMER",
    "STAFF",
    "TABLES",
    "NOT_PERSONAL",
    "RETENTION_EXTRA",
    "categories",
    "period",
    "in_words",
    "processors",
    "recipients",
    "build_record",
    "notice_facts",
    "as_dict",
    "render_markdown",
]
