"""For the regulator: the record of processing (Art. 30), the consent register and the
suppression report. The breach log is in `breaches.py`.

The consent register holds addresses: it is a POST with a CSRF token (no link a
prefetcher could follow), written to the audit log with the count only, and streamed.
"""

from __future__ import annotations

import json

from flask import Response, abort, current_app, render_template, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user

from ... import audit, breaches, records, reports
from ...clock import utcnow
from ...extensions import db
from .auth import owner_only
from .blueprint import bp
from .forms import ButtonForm


def _download(body, name: str, mimetype: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/records")
@owner_only  # editors may not (issue 16)
def records_page():
    """The record of processing, the processor list, and the exports for the regulator."""
    record = records.build_record(current_app.config)
    entries = breaches.entries()
    return render_template(
        "admin/records.html",
        record=record,
        extra_retention=records.RETENTION_EXTRA,
        active=reports.active_subscriber_count(),
        suppressions=reports.suppression_report(),
        breach_count=len(entries),
        overdue=len(breaches.overdue(entries, utcnow())),
        form=ButtonForm(),
    )


@bp.get("/records/record-of-processing.<fmt>")
@owner_only  # editors may not (issue 16)
def records_download(fmt: str):
    """The record as a Markdown or JSON file."""
    record = records.build_record(current_app.config)
    if fmt == "md":
        body = records.render_markdown(record)
        return _download(body, "record-of-processing.md", "text/markdown")
    if fmt == "json":
        body = json.dumps(records.as_dict(record), indent=2, ensure_ascii=False)
        return _download(body, "record-of-processing.json", "application/json")
    abort(404, _("The record can be downloaded as .md or .json."))


@bp.post("/records/consent-register.csv")
@owner_only  # editors may not (issue 16)
def records_consent_register():
    """Every active subscriber's basis and evidence, as CSV, streamed (audit-logged)."""
    if not ButtonForm().validate_on_submit():
        abort(400, _("The form expired; go back, reload the page and try again."))
    count = reports.active_subscriber_count()
    audit.record(current_user, reports.AUDIT_CONSENT_REGISTER, "", subscribers=count, format="csv")
    db.session.commit()
    lines = stream_with_context(reports.consent_register_lines())
    return _download(lines, f"consent-register-{utcnow():%Y-%m-%d}.csv", "text/csv")


@bp.get("/records/suppression-report.csv")
@owner_only  # editors may not (issue 16)
def records_suppression_report():
    """Suppressions by month, reason and channel: counts and dates, no address, no hash."""
    report = reports.suppression_report()
    audit.record(current_user, reports.AUDIT_SUPPRESSION_REPORT, "", rows=len(report))
    db.session.commit()
    body = "".join(reports.suppression_report_lines(report))
    return _download(body, f"suppression-report-{utcnow():%Y-%m-%d}.csv", "text/csv")
