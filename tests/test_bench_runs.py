"""The benchmarks still run and still count (a baseline broken by a change in the app
went unnoticed for a session once): a small run of each, figures not judged here
(docs/PERFORMANCE.md quotes the real runs), only that every figure is there and every
recipient got the campaign exactly once."""

from __future__ import annotations

import pytest

from bench import pg_vs_sqlite, send


def test_the_sending_bench_prints_every_baseline_with_dkim_on(tmp_path, postgres_url):
    if postgres_url:
        pytest.skip("the bench makes its own SQLite file: run once, in the SQLite pass")
    report = send.main(
        [
            "--n", "150", "--workers", "2", "--reps", "1", "--dkim", "on", "--no-rss",
            "--no-signup", "--json", str(tmp_path / "bench.json"),
        ]
    )  # fmt: skip
    figures = report["sending"]["dkim_on"]
    for name in ("baseline_rate", "wire_rate", "signing_rate_1", "signing_rate"):
        assert figures[name] > 0, name
    assert figures["every_recipient_once"] is True
    assert 0 < figures["signing_ratio_cores"]
    assert 0 < figures["signing_ratio"]
    assert (tmp_path / "bench.json").exists()


def test_the_database_comparison_runs_on_both(postgres_url, capsys):
    if not postgres_url:
        pytest.skip("needs NEWSLETTER_TEST_DATABASE_URL (PostgreSQL)")
    pg_vs_sqlite.main(["--database-url", postgres_url, "--n", "150", "--reps", "1"])
    out = capsys.readouterr().out
    assert "PostgreSQL / SQLite x" in out
    assert "rep 1:" in out
