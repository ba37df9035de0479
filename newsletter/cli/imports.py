"""flask subscribers import FILE.csv --basis consent|existing-customer --source TEXT"""

from __future__ import annotations

import click
from flask import current_app

from .. import imports
from ..compliance import ComplianceError
from ..extensions import db
from ..models import Basis

_DECLARATION = (
    "Did every person in this file give their consent to, or buy from, {org} itself "
    "(not a list bought, rented or borrowed from someone else)?"
)


@click.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.File("r", encoding="utf-8-sig"))
@click.option("--basis", required=True, type=click.Choice(Basis.ALL), help="Lawful basis.")
@click.option("--source", required=True, help="Where these people came from, in words.")
@click.option(
    "--own-contacts",
    "own_contacts",
    is_flag=True,
    prompt=_DECLARATION.format(org="this business"),
    help="Declare that the people consented to, or bought from, this business (D7).",
)
@click.option("--dry-run", is_flag=True, help="Report every row's outcome; write nothing.")
def import_command(csv_file, basis: str, source: str, own_contacts: bool, dry_run: bool) -> None:
    """Import subscribers from a CSV file; prints a JSON report. All rows or none."""
    try:
        report = imports.import_csv(
            csv_file, basis, source, own_contacts, actor="cli", dry_run=dry_run
        )
    except (ComplianceError, imports.ImportFileError) as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc} Nothing was imported.") from exc
    except Exception as exc:  # a database or disk failure: say so, keep nothing
        db.session.rollback()
        current_app.logger.exception("import failed")
        raise click.ClickException(
            f"The import failed ({exc.__class__.__name__}). Nothing was imported."
        ) from exc
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    for text in report.json_text():  # piece by piece: the skipped rows may be many
        click.echo(text, nl=False)
    click.echo()


def attach(group) -> None:
    """Add the import command to the subscribers group."""
    group.add_command(import_command)
