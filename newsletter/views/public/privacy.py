"""The privacy notice, generated from the live configuration, in Dutch, French and English.

Read from the configuration at request time, so the notice stays true when an operator
changes something:
- every retention period (seed "ap-advertising-consent-retention": the periods belong in
  the privacy statement; GDPR Art. 13(2)(a)), in years and months in the reader's
  language (`periods.config_period`: "5 years", "5 jaar", "5 ans", never "1826 days");
- the privacy contact (NEWSLETTER_CONTROLLER_CONTACT, else the sender address) and the
  DPO when there is one (Art. 13(1)(a)-(b));
- the recipients and processors, and the transfers outside the EEA with their safeguard
  (Art. 13(1)(e)-(f)), as the record of processing states them (`records.notice_facts`).
"""

from __future__ import annotations

from email.utils import parseaddr

from flask import current_app, make_response, render_template
from flask_babel import get_locale

from ... import compliance, periods, records
from ...i18n import select_locale
from .blueprint import bp

# The servers the record finds in the configuration, by the key they come from: the
# notice names them by kind, in the reader's language, without their host names.
SERVER_KINDS = {
    "NEWSLETTER_MAIL_SERVER": "smtp",
    "NEWSLETTER_BOUNCE_MAILBOX_HOST": "bounce",
    "NEWSLETTER_SQLALCHEMY_DATABASE_URI": "database",
    "NEWSLETTER_RATELIMIT_STORAGE_URI": "ratelimit",
}


def contact_link(value: str | None) -> dict | None:
    """A contact as shown: its text and, for an address or a web page, a link to it."""
    if not value:
        return None
    text = value.strip()
    if text.startswith(("https://", "http://")):
        return {"text": text, "href": text}
    address = parseaddr(text)[1]
    if "@" in address and " " not in address:
        return {"text": text, "href": f"mailto:{address}"}
    return {"text": text, "href": None}


def notice_processors(facts: dict) -> list[dict]:
    """Every processor for the notice: the configured ones as the operator wrote them;
    the servers of the configuration by kind (a server on this machine is no recipient)."""
    shown = []
    for p in facts["processors"]:
        if p.source == "NEWSLETTER_PROCESSORS":
            shown.append(
                {"kind": "configured", "name": p.name, "purpose": p.purpose, "country": p.country}
            )
        elif p.country != "this machine":
            shown.append(
                {
                    "kind": SERVER_KINDS.get(p.source, "server"),
                    "name": p.name,
                    "purpose": p.purpose,
                    "country": None,
                }
            )
    return shown


def notice_transfers(facts: dict) -> list[dict]:
    """Each transfer outside the EEA and what covers it: the safeguard on record, else an
    adequacy decision (GDPR Art. 45), else none (the notice says so: Art. 13(1)(f))."""
    shown = []
    for p in facts["transfers"]:
        code = compliance.country_code(p.country)
        if p.safeguard:
            cover, detail = "safeguard", p.safeguard
        elif code in compliance.ADEQUACY_DECISIONS:
            cover, detail = "adequacy", None
        else:
            cover, detail = "none", None
        # Canada's and the United States' decisions cover only some organisations.
        partial = cover == "adequacy" and "(" in compliance.ADEQUACY_DECISIONS[code]
        shown.append(
            {
                "name": p.name,
                "country": p.country,
                "cover": cover,
                "detail": detail,
                "partial": partial,
            }
        )
    return shown


@bp.app_template_global("period")
def period_in_words(key: str) -> str:
    """`{{ period('KEY') }}` in any page: the configured period in the page's language."""
    return periods.config_period(current_app.config, key, str(get_locale()))


@bp.get("/privacy")
def privacy():
    """The newsletter's privacy notice in the chosen language (see newsletter.i18n)."""
    lang = select_locale()
    config = current_app.config
    facts = records.notice_facts(config)
    page = render_template(
        f"public/privacy_{lang}.html",
        page_lang=lang,
        contact=contact_link(facts["contact"]),
        dpo=contact_link(facts["dpo"]),
        processors=notice_processors(facts),
        transfers=notice_transfers(facts),
        period=lambda key: periods.config_period(config, key, lang),
    )
    response = make_response(page)
    response.headers["Content-Language"] = lang
    response.vary.add("Accept-Language")
    return response
