"""Language versions of a campaign: a subject, preheader and body per language.

The campaign row holds its main version (`Campaign.locale`: the language it was written
in, by default the default language); `CampaignVersion` rows hold the other languages.
Each recipient gets the version in their language, else the default language's, else
the main one (`version_for`); the footer is always in the recipient's language.
Domain functions flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import i18n
from .extensions import db
from .headers import clean_header_text
from .models import Campaign, CampaignVersion

MAX_SUBJECT = 300


class CampaignError(Exception):
    """A campaign action that is not possible now; the message says why."""


@dataclass(frozen=True)
class Version:
    """One language's text of a campaign (a plain value: cheap, no ORM state)."""

    locale: str
    subject: str
    preheader: str
    body_markdown: str


def offered_languages() -> dict[str, str]:
    """The languages a campaign can have a version in (code: name)."""
    return dict(i18n.LANGUAGES)


def default_language() -> str:
    """The language whose version goes to recipients without one of their own."""
    return i18n.DEFAULT


def require_locale(value: str | None) -> str:
    """`value` as an offered language code (any common spelling: `nl_BE`, `NL`), or a
    CampaignError naming the offered languages."""
    language = i18n.normalize_locale(value)
    if language is None:
        offered = ", ".join(offered_languages())
        raise CampaignError(f"Unknown language {value!r}: choose one of {offered}.")
    return language


def validated(subject: str, body_markdown: str, preheader: str = "") -> tuple[str, str, str]:
    """(subject, body, preheader) cleaned: CR/LF in the subject or preheader become spaces
    (never a header); a CampaignError says what is missing or wrong."""
    subject = clean_header_text(subject)
    preheader = clean_header_text(preheader)
    if not subject:
        raise CampaignError("A subject is required.")
    if len(subject) > MAX_SUBJECT or len(preheader) > MAX_SUBJECT:
        raise CampaignError(f"Subject and preheader may have at most {MAX_SUBJECT} characters.")
    if not (body_markdown or "").strip():
        raise CampaignError("The message body is empty.")
    if "\0" in subject + preheader + body_markdown:  # PostgreSQL text cannot hold NUL
        raise CampaignError("The text contains a NUL character (\\0); remove it.")
    return subject, body_markdown.replace("\r\n", "\n"), preheader


def main_locale(campaign: Campaign) -> str:
    """The language of the text on the campaign row."""
    return campaign.locale or default_language()


def versions(campaign: Campaign) -> dict[str, Version]:
    """Every version of the campaign by language, the main one first."""
    main = main_locale(campaign)
    found = {
        main: Version(
            main, campaign.subject or "", campaign.preheader or "", campaign.body_markdown
        )
    }
    for row in campaign.versions:
        if row.locale != main:
            found[row.locale] = Version(
                row.locale, row.subject, row.preheader or "", row.body_markdown
            )
    return found


def version_for(campaign: Campaign, language: str | None) -> Version:
    """The version a recipient in `language` gets: theirs, else the default language's,
    else the main one."""
    found = versions(campaign)
    return (
        found.get(language or "") or found.get(default_language()) or found[main_locale(campaign)]
    )


def missing_languages(campaign: Campaign, languages) -> list[str]:
    """Those of `languages` the campaign has no version in (they get another's)."""
    have = versions(campaign)
    return [code for code in languages if code not in have]


def set_version(
    campaign: Campaign, locale: str, subject: str, body_markdown: str, preheader: str = ""
) -> None:
    """Add the version in `locale`, or replace it (the main one too)."""
    locale = require_locale(locale)
    subject, body, preheader = validated(subject, body_markdown, preheader)
    if locale == main_locale(campaign):
        campaign.subject, campaign.body_markdown, campaign.preheader = subject, body, preheader
    else:
        row = next((v for v in campaign.versions if v.locale == locale), None)
        if row is None:
            row = CampaignVersion(locale=locale)
            campaign.versions.append(row)
        row.subject, row.body_markdown, row.preheader = subject, body, preheader
    db.session.flush()


def set_versions(campaign: Campaign, texts: dict[str, tuple[str, str, str]]) -> None:
    """Make the campaign's versions exactly `texts` ({locale: (subject, body,
    preheader)}), as the compose form has them. The main language stays when it is still
    there; else the default language's version, else the first, becomes the main one."""
    if not texts:
        raise CampaignError("Write the campaign in at least one language: a subject and a body.")
    checked = {}
    for locale, (subject, body, preheader) in texts.items():
        try:
            checked[require_locale(locale)] = validated(subject, body, preheader)
        except CampaignError as exc:
            raise CampaignError(f"{offered_languages().get(locale, locale)}: {exc}") from exc
    main = main_locale(campaign)
    if main not in checked:
        main = default_language() if default_language() in checked else next(iter(checked))
    campaign.locale = main
    campaign.subject, campaign.body_markdown, campaign.preheader = checked.pop(main)
    for row in list(campaign.versions):
        if row.locale not in checked:
            campaign.versions.remove(row)
    for locale, (subject, body, preheader) in checked.items():
        set_version(campaign, locale, subject, body, preheader)
    db.session.flush()


def copy_versions(source: Campaign, target: Campaign) -> None:
    """Give `target` every version of `source` (a duplicate)."""
    target.locale = main_locale(source)
    target.subject, target.preheader = source.subject, source.preheader
    target.body_markdown = source.body_markdown
    for row in source.versions:
        target.versions.append(
            CampaignVersion(
                locale=row.locale,
                subject=row.subject,
                preheader=row.preheader,
                body_markdown=row.body_markdown,
            )
        )
