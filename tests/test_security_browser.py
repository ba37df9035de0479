"""The Content-Security-Policy as a real browser (Debian chromium) enforces it."""

from __future__ import annotations

import pytest
from flask import render_template_string


@pytest.fixture
def app_config(live_app_config):
    return live_app_config


def test_browser_runs_no_injected_inline_script_and_reports_no_violation_of_our_own(
    live_server, page
):
    violations = []
    page.on("console", lambda message: violations.append(message.text))
    page.goto(f"{live_server}/subscribe")
    assert page.get_by_label("Email address").is_visible()
    assert not [v for v in violations if "Content Security Policy" in v]
    # An injected inline script (what an XSS would do) does not run.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.injected = 1'; document.body.appendChild(s); }"
    )
    assert page.evaluate("() => window.injected") is None
    assert any("Content Security Policy" in v for v in violations)


@pytest.fixture
def nonce_page(app):
    """A page with one script carrying the nonce and one without (added before serving)."""

    def view():
        return render_template_string(
            '<!doctype html><title>t</title><script nonce="{{ csp_nonce() }}">'
            "window.withNonce = 1</script><script>window.withoutNonce = 1</script>"
        )

    app.add_url_rule("/nonce-test", view_func=view)
    return "/nonce-test"


def test_only_the_script_with_the_nonce_runs(nonce_page, live_server, page):
    """What a page with a script must do: `<script nonce="{{ csp_nonce() }}">`."""
    page.goto(f"{live_server}{nonce_page}")
    assert page.evaluate("() => window.withNonce") == 1
    assert page.evaluate("() => window.withoutNonce") is None
