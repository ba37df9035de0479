"""`flask` commands, one module per noun."""

from __future__ import annotations

from flask import Flask


def register_commands(app: Flask) -> None:
    """Attach every command group to the app's CLI."""
    from . import admin, api_tokens, campaigns, imports, jobs, outbox, subscribers, topics, worker

    for module in (admin, api_tokens, campaigns, jobs, outbox, subscribers, topics, worker):
        for command in module.COMMANDS:
            app.cli.add_command(command)
    imports.attach(subscribers.subscribers)
    from .privacy import privacy  # the regulator's records; apart, so merges stay clean

    app.cli.add_command(privacy)
    from .consent_texts import consent_text  # per-language consent wording (issue 13)

    app.cli.add_command(consent_text)

    from .webhooks import COMMANDS as webhook_commands  # outgoing webhooks (issue 16)

    for command in webhook_commands:
        app.cli.add_command(command)
