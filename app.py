"""Entry point: `flask` and `gunicorn app:app` find the application here."""

from newsletter import create_app

app = create_app()
