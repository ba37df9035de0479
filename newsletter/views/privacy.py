"""The privacy notice, generated from the live configuration."""

from flask import current_app, render_template

from .public import bp


@bp.get("/privacy")
def privacy():
    """The newsletter's privacy notice."""
    return render_template("public/privacy.html", config=current_app.config)
