"""The API blueprint (`/api/v1`) and its rate limit (NEWSLETTER_API_RATE_LIMIT)."""

from __future__ import annotations

from flask import Blueprint, current_app

from ...extensions import limiter

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _api_rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


limiter.limit(_api_rate_limit)(bp)
