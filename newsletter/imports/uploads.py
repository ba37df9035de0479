"""Uploaded files awaiting the admin's confirmation (personal data: purged)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask import current_app

# The consent evidence columns (basis consent) and the customer's (existing-customer);


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
