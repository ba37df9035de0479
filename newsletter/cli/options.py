"""Checks of command-line values shared by several commands."""

from __future__ import annotations

import click

from .. import i18n


def offered_language(locale: str) -> str:
    """The `--locale` value as a language this installation offers; else a usage error
    that says which are offered (and that nothing was changed)."""
    language = i18n.normalize_locale(locale)
    if language is None or language not in i18n.offered():
        raise click.BadParameter(
            f"{locale!r} is not a language offered ({', '.join(i18n.offered())}). "
            "Nothing was changed.",
            param_hint="--locale",
        )
    return language
