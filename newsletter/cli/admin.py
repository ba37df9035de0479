"""flask admin create EMAIL (password from a prompt, or from stdin when not a terminal)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from .. import admins, audit
from ..extensions import db

admin = AppGroup("admin", help="Admin accounts of the web interface.")


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    # Piped: the first line is the password (e.g. from a secret manager).
    return sys.stdin.readline().rstrip("\r\n")


@admin.command("create")
@click.argument("email")
def create(email: str) -> None:
    """Create an admin account; the password is asked for (or read from stdin)."""
    password = _read_password()
    try:
        account = admins.create_admin(email, password)
    except admins.AdminError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    audit.record("cli", "admin.create", str(account.id))
    db.session.commit()
    click.echo(f"Admin {account.email} created. Sign in at /admin/login.")


COMMANDS = [admin]
