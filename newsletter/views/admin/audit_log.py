"""The audit log, newest first, paged."""

from __future__ import annotations

from flask import render_template, request

from ... import audit
from .blueprint import bp


@bp.get("/audit")
def audit_log():
    """Who did what to personal data, and when."""
    page = audit.page(request.args.get("page", 1, type=int))
    return render_template("admin/audit.html", page=page)
