"""flask consent-text set --locale LANG --file F.txt | list"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import audit, i18n, subscriptions
from ..extensions import db
from .options import offered_language

consent_text = AppGroup("consent-text", help="The consent wording beside the box, per language.")


@consent_text.command("set")
@click.option("--locale", "locale", required=True, help="Language of the text: nl, fr or en.")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="UTF-8 text file holding the exact wording.",
)
def set_text(locale: str, path: str) -> None:
    """Store a new version of the consent wording shown beside the box in that language.

    Earlier versions stay as they were: every consent given keeps pointing at the text
    the person saw. Prints the language and the version now shown.
    """
    language = offered_language(locale)
    wording = _read(path)
    current = subscriptions.current_consent_text(language)
    text = subscriptions.add_consent_text(wording, language)
    if current is not None and text.id == current.id:
        click.echo(f"{language} version {text.version} (unchanged: no new version was made)")
        return
    if current is not None and text.version < current.version:
        db.session.rollback()
        raise click.ClickException(
            f"This wording is {language} version {text.version} already; the pages keep "
            f"showing version {current.version}. Change the text to make a new version."
        )
    audit.record("cli", audit.CONSENT_TEXT_EDIT, f"{language} v{text.version}")
    db.session.commit()
    click.echo(f"{language} version {text.version}")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            wording = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(
            f"Cannot read {path} as UTF-8 text ({exc}). Nothing was changed."
        ) from exc
    if not wording:
        raise click.ClickException(f"{path} is empty. Nothing was changed.")
    return wording


@consent_text.command("list")
def list_texts() -> None:
    """Each language's current version, or which text its pages show instead."""
    for code in i18n.offered():
        own = subscriptions.current_consent_text(code)
        if own is not None:
            click.echo(f"{code}\tversion {own.version}")
        else:
            shown = subscriptions.displayed_consent_text(code)
            click.echo(f"{code}\tnone: its pages show {shown.locale} version {shown.version}")
