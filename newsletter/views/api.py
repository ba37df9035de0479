"""Token-authenticated JSON API (the objection register), CSRF-exempt."""

from flask import Blueprint

bp = Blueprint("api", __name__)
