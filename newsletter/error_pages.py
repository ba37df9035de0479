"""Error pages in the visitor's language (issue 15): 400, 403, 404, 405, 410, 413, 429, 500.

The page's language is chosen like any other page's (`?lang=`, then the browser's
Accept-Language). A description the app wrote itself (`abort(404, "No such subscriber")`)
is kept; Werkzeug's generic English descriptions are replaced by ours.
"""

from __future__ import annotations

from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException


def _texts() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Bad request"), _("The page could not understand this request.")),
        403: (_("Not allowed"), _("You are not allowed to see this page.")),
        404: (
            _("Page not found"),
            _(
                "There is no page at this address. Please check the link, or start again "
                "from the home page."
            ),
        ),
        405: (
            _("Not possible here"),
            _("This page cannot be used this way. Please use the buttons on the page itself."),
        ),
        410: (_("No longer available"), _("This page is no longer available.")),
        413: (_("Too large"), _("What was sent is too large.")),
        429: (
            _("Too many attempts"),
            _("You have tried this too often in a short time. Please wait a moment and try again."),
        ),
        500: (
            _("Something went wrong"),
            _("Nothing was changed. Please try again in a moment."),
        ),
    }


def texts(error: HTTPException | None) -> tuple[str, str]:
    """(title, message) of the error page, in the current language."""
    code = error.code if error is not None else 500
    known = _texts().get(code)
    if known is None:
        return error.name, error.description
    title, message = known
    own = error is not None and error.description != type(error).description
    if own and code != 429:  # Flask-Limiter's description is the limit itself ("10 per 1 minute")
        message = error.description
    return title, message
