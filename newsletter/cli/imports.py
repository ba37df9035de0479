"""flask subscribers import FILE.csv --basis consent|existing-customer --source TEXT
[--own-contacts] [--dry-run]"""

from __future__ import annotations

import sys

import click
from flask import current_app

from .. import imports
from ..compliance import OWN_CONTACTS_DECLARATION, ComplianceError
from ..extensions import db
from ..models import Basis

NO_DECLARATION = (
    "No declaration that these are your own contacts, and no terminal to ask it on. "
    "Pass --own-contacts to declare: {declaration} Nothing was imported."
)


def _interactive() -> bool:
    """Can the operator be asked (a terminal on standard input)?"""
    return sys.stdin.isatty()


def _declared(own_contacts: bool) -> bool:
    """The operator's declaration: the flag, else their answer to the prompt.

    Without the flag and without a terminal (a script, a pipe) nobody can answer, so
    the import is refused rather than answered for them.
    """
    if own_contacts:
        return True
    declaration = OWN_CONTACTS_DECLARATION.format(org=current_app.config["ORGANIZATION_NAME"])
    if not _interactive():
        raise click.ClickException(NO_DECLARATION.format(declaration=declaration))
    return click.confirm(f"{declaration}\nDo you declare this?", default=False)


@click.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.File("r", encoding="utf-8-sig"))
@click.option("--basis", required=True, type=click.Choice(Basis.ALL), help="Lawful basis.")
@click.option("--source", required=True, help="Where these people came from, in words.")
@click.option(
    "--own-contacts",
    "own_contacts",
    is_flag=True,
    help="Declare that every person consented to, or bought from, this business itself "
    "(not a bought, rented or borrowed list). Without it you are asked; without a "
    "terminal the import is refused.",
)
@click.option("--dry-run", is_flag=True, help="Report every row's outcome; write nothing.")
def import_command(csv_file, basis: str, source: str, own_contacts: bool, dry_run: bool) -> None:
    """Import subscribers from a CSV file; prints a JSON report. All rows or none.

    Consent rows need the evidence columns (docs/IMPORTS.md); rows without evidence are
    skipped with the reason, never mailed.
    """
    declared = _declared(own_contacts)
    try:
        report = imports.import_csv(csv_file, basis, source, declared, actor="cli", dry_run=dry_run)
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
