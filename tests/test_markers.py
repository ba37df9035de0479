"""A developer can run a slice of the suite: `pytest -m browser`, `-m smtp`, `-m postgres`.

The markers are set by tests/conftest.py from what a test's code does (README "Test it");
these tests collect a slice as a developer would (`pytest --collect-only -q -m ...`, in a
subprocess) and check that known members are in it and a pure unit test is not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = "tests/test_compliance_time.py::test_reconsent_due"
FILES = [
    "tests/test_compliance_time.py",
    "tests/test_browser_journey.py",
    "tests/test_privacy.py",
    "tests/test_mail_delivery.py",
    "tests/test_system_mail_dkim.py",
    "tests/test_scheduler.py",
    "tests/test_scale.py",
    "tests/test_embedded_sending.py",
    "tests/e2e/test_embedded_default.py",
]
EMBEDDED = (
    "tests/test_embedded_sending.py::test_flask_run_beside_a_flask_worker_sends_each_message_once"
)


def collected(marker: str) -> set[str]:
    """The test ids `pytest --collect-only -q -m <marker>` lists."""
    result = subprocess.run(
        # Without the project's addopts (-n auto): a plain, one-process collection.
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-o", "addopts=", "-p", "no:xdist"]
        + ["-p", "no:benchmark", "-m", marker]
        + FILES,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr  # 5: none selected
    return {line.strip() for line in result.stdout.splitlines() if "::" in line}


@pytest.mark.parametrize(
    ("marker", "members"),
    [
        (
            "browser",
            [
                # the `page` fixture
                "tests/test_browser_journey.py::"
                "test_signup_confirm_preferences_unsubscribe_in_a_browser",
                # browser_page() called in the test itself
                "tests/test_privacy.py::test_a_dutch_browser_reads_the_notice_and_switches_to_french",
                # everything in tests/e2e
                "tests/e2e/test_embedded_default.py::"
                "test_readme_run_command_alone_signs_up_confirms_and_delivers_in_dutch",
            ],
        ),
        (
            "smtp",
            [
                # the aiosmtpd `smtp_server` fixture
                "tests/test_mail_delivery.py::test_confirmation_mail_arrives_through_real_smtp",
                # an aiosmtpd Controller in the module's own fixture
                "tests/test_system_mail_dkim.py::"
                "test_confirmation_over_smtp_is_signed_and_ehlo_is_the_sender_domain[nl]",
                "tests/e2e/test_embedded_default.py::"
                "test_readme_run_command_alone_signs_up_confirms_and_delivers_in_dutch",
            ],
        ),
        (
            "postgres",
            [
                # skipped by a fixture off PostgreSQL
                "tests/test_scheduler.py::test_two_workers_run_a_job_once",
                # skipped in the test itself when postgres_url is None
                "tests/test_scale.py::"
                "test_queueing_on_postgresql_leaves_fresh_planner_statistics_for_the_claims",
                f"{EMBEDDED}[postgresql]",
            ],
        ),
    ],
)
def test_a_slice_holds_its_tests_and_no_pure_unit_test(marker, members):
    ids = collected(marker)
    missing = [test_id for test_id in members if test_id not in ids]
    assert not missing, f"-m {marker} misses {missing}; it collected {sorted(ids)}"
    assert UNIT not in ids


def test_the_sqlite_instance_of_a_test_run_on_both_databases_is_not_in_the_postgres_slice():
    assert f"{EMBEDDED}[sqlite]" not in collected("postgres")
    assert f"{EMBEDDED}[sqlite]" in collected("not postgres")


def test_the_quick_slice_leaves_out_the_browser_and_e2e_tests_and_keeps_the_unit_test():
    ids = collected("not browser and not e2e")
    assert UNIT in ids
    assert not any("test_browser_journey" in i or "tests/e2e/" in i for i in ids)
