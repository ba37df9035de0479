"""flask admin create EMAIL [--role owner|editor] (password from a prompt, or from stdin
when not a terminal); flask admin reset-2fa EMAIL (recovery of a lost authenticator)."""

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
@click.option(
    "--role",
    type=click.Choice(admins.ROLES),
    default=admins.OWNER,
    show_default=True,
    help="owner: everything; editor: no exports, erasure, admins, API tokens or records.",
)
def create(email: str, role: str) -> None:
    """Create an admin account; the password is asked for (or read from stdin)."""
    password = _read_password()
    try:
        account = admins.create_admin(email, password, role=role)
    except admins.AdminError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    audit.record("cli", "admin.create", str(account.id), role=role)
    db.session.commit()
    click.echo(f"Admin {account.email} created. Sign in at /admin/login.")


@admin.command("reset-2fa")
@click.argument("email")
def reset_2fa(email: str) -> None:
    """Switch two-factor login off for an account (its owner lost the authenticator)."""
    account = admins.by_email(email)
    if account is None:
        raise click.ClickException("No admin account has this address.")
    admins.reset_two_factor(account)
    audit.record("cli", "admin.2fa-reset", str(account.id))
    db.session.commit()
    click.echo(
        f"Two-factor login is off for {account.email}; they sign in with the password "
        "and can set it up again on their account page."
    )


COMMANDS = [admin]
