"""What the API's endpoints share: JSON errors, strict bodies and query strings, paging."""

from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import func, select

from ...extensions import db


def error(status: int, message: str, **headers):
    return jsonify(error=message), status, headers


MAX_PER_PAGE = 200  # the largest page of a listing


class BodyError(ValueError):
    """The request body does not match the endpoint's fields; the message names the field."""


def _of_type(value, kind) -> bool:
    """JSON typing: a boolean is no integer; `(list, str)` is a list of strings."""
    if isinstance(kind, tuple):
        container, item = kind
        return isinstance(value, container) and all(_of_type(v, item) for v in value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _has_nul(value) -> bool:
    """A NUL character anywhere in the value (PostgreSQL text cannot hold one)."""
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def json_body(fields: dict[str, tuple], example: str, required=(), empty_ok=False) -> dict:
    """The request's JSON object, holding only `fields`, each of its type; else BodyError.

    Absent fields are left to the domain function (which says what is missing), unless
    named in `required`; `null` counts as the wrong type, as in the OpenAPI document.
    `empty_ok`: no body at all reads as `{}`.
    """
    if empty_ok and not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BodyError(f"Send a JSON object: {example}.")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise BodyError(
            f"Unknown field {names}: this endpoint takes only {', '.join(fields)}. "
            "Nothing was recorded."
        )
    for name, (kind, expected) in fields.items():
        if name in body and not _of_type(body[name], kind):
            raise BodyError(f"'{name}' must be {expected}. Nothing was recorded.")
    for name, value in body.items():
        if _has_nul(value):
            raise BodyError(f"'{name}' contains a NUL character (\\0). Nothing was recorded.")
    missing = [name for name in required if name not in body]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise BodyError(f"Missing field {names}: it is required. Nothing was recorded.")
    return body


def iso(value) -> str | None:
    return value.isoformat() if value else None


def query_args(allowed: tuple[str, ...]) -> dict[str, str]:
    """The query string, holding only `allowed` names; else BodyError naming the other."""
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise BodyError(f"Unknown parameter {names}: this endpoint takes {', '.join(allowed)}.")
    return {name: request.args[name] for name in allowed if name in request.args}


def page_numbers(args: dict) -> tuple[int, int]:
    try:
        page = int(args.get("page", 1))
        per_page = int(args.get("per_page", 50))
    except ValueError:
        raise BodyError("'page' and 'per_page' must be whole numbers.") from None
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise BodyError(f"'page' must be 1 or more and 'per_page' between 1 and {MAX_PER_PAGE}.")
    return page, per_page


def paged(query, args: dict, to_json) -> dict:
    page, per_page = page_numbers(args)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.offset((page - 1) * per_page).limit(per_page))
    return {
        "items": [to_json(row) for row in rows],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": max(1, -(-total // per_page)),
    }
