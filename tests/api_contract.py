"""docs/openapi.yaml as the tests read it: the routes it lists, and response checks."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
PREFIX = "/api/v1"


def documented_operations() -> set[tuple[str, str]]:
    """(path with {} for each parameter, METHOD) of every documented operation."""
    found = set()
    for path, item in OPENAPI["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                found.add((re.sub(r"\{[^}]+\}", "{}", path), method.upper()))
    return found


def routed_operations(app) -> set[tuple[str, str]]:
    """The same for every rule of the app under /api/v1."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path = re.sub(r"<[^>]+>", "{}", rule.rule[len(PREFIX) :])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((path, method))
    return found


def _lookup(ref: str) -> dict:
    node = OPENAPI
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def response_schema(path: str, method: str, status: int) -> dict:
    """The JSON schema the document gives for this answer (its $refs resolvable)."""
    operation = OPENAPI["paths"][path][method.lower()]
    response = operation["responses"][str(status)]
    if "$ref" in response:
        response = _lookup(response["$ref"])
    schema = response["content"]["application/json"]["schema"]
    return {**OPENAPI, **schema}


def assert_conforms(response, path: str, method: str) -> None:
    """The response's status is documented for the operation, and its body fits."""
    assert response.is_json, response.data[:200]
    schema = response_schema(path, method, response.status_code)
    jsonschema.Draft202012Validator(schema).validate(response.json)


def request_schema(name: str) -> dict:
    return {**OPENAPI, "$ref": f"#/components/schemas/{name}"}
