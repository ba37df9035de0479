"""docs/COMPLIANCE.md names the code and the test of every rule: each name must exist.

A rule row that points at a renamed or deleted function is a claim nobody can check; this
test fails as soon as a module-qualified name (`compliance.has_lawful_basis`,
`views.public.unsubscribe`) or a test file (`tests/test_x.py`) in the document stops
pointing at real code.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "COMPLIANCE.md").read_text()

# `module.attribute` in backticks, where module is a module of the newsletter package.
QUALIFIED = re.compile(r"`((?:[a-z_]+\.)*[a-z_]+)\.([A-Za-z_][A-Za-z0-9_]*)(?:\(\))?`")
TEST_FILE = re.compile(r"`?(tests/[A-Za-z0-9_/]+\.py)`?")


def _package_modules() -> set[str]:
    names = set()
    for path in (ROOT / "newsletter").rglob("*.py"):
        parts = path.relative_to(ROOT / "newsletter").with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            names.add(".".join(parts))
    return names


MODULES = _package_modules()
FILE_SUFFIXES = {"py", "html", "txt", "md", "json", "csv"}


def _named_code() -> list[tuple[str, str]]:
    found = set()
    for module, attribute in QUALIFIED.findall(DOC):
        if module in MODULES and attribute not in FILE_SUFFIXES:  # `tokens.py` is a file
            found.add((module, attribute))
    return sorted(found)


def test_compliance_doc_names_code():
    assert len(_named_code()) > 50  # the document is read, not silently empty


@pytest.mark.parametrize(("module", "attribute"), _named_code())
def test_every_name_in_compliance_doc_exists(app, module, attribute):
    imported = importlib.import_module(f"newsletter.{module}")
    assert hasattr(imported, attribute), (
        f"docs/COMPLIANCE.md names newsletter.{module}.{attribute}, which does not exist"
    )


@pytest.mark.parametrize("path", sorted(set(TEST_FILE.findall(DOC))))
def test_every_test_file_in_compliance_doc_exists(path):
    assert (ROOT / path).is_file(), f"docs/COMPLIANCE.md names {path}, which does not exist"
