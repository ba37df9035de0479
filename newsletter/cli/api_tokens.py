"""flask api-token create NAME --scope SCOPE... | revoke NAME | list"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import api_tokens
from ..extensions import db

api_token = AppGroup("api-token", help="Tokens for the API (docs/API.md).")


@api_token.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(api_tokens.SCOPES),
    help="Repeat for several scopes.",
)
def create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a token and print it once (only its hash is kept)."""
    try:
        _row, secret = api_tokens.create_token(name, list(scopes))
    except api_tokens.TokenError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(secret)
    click.echo("Store it now: it is not shown again.", err=True)


@api_token.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke a token by name; it stops working at once."""
    try:
        api_tokens.revoke_token(name)
    except api_tokens.TokenError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"revoked {name}")


@api_token.command("list")
def list_tokens() -> None:
    """One token per line: name, scopes, created, revoked (never the secret)."""
    for row in api_tokens.list_tokens():
        revoked = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        click.echo(f"{row.name}\t{','.join(row.scopes)}\t{row.created_at:%Y-%m-%d}\t{revoked}")


COMMANDS = [api_token]
