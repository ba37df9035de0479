"""Benchmark: `imports.import_csv` on a generated file (default 100,000 rows).

    python bench/import.py [--rows 100000] [--runs 3] [--pending-share 0.0]
    python bench/import.py --rss [--rows 100000] [--rss-scale 10]
    NEWSLETTER_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench python bench/import.py

Each run imports into a fresh database (a temporary SQLite file, or the PostgreSQL URL
given, emptied first) and the median wall time of the runs is printed, with rows/second.
Rows carry consent evidence (every evidence column, docs/IMPORTS.md) unless
--pending-share asks for a share of rows without it (those are skipped: never mailed).

`--rss`: peak RSS (VmHWM) of a process that imports a file of N rows, and of one that
imports 10 N, each for real and as a dry run (the admin's preview), each in a fresh
process: the import's memory must not grow with the file.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from bench.send import peak_rss_mb  # noqa: E402
from newsletter import create_app, imports  # noqa: E402
from newsletter.clock import utcnow  # noqa: E402
from newsletter.defaults import default_rows  # noqa: E402
from newsletter.extensions import db  # noqa: E402


def write_file(path: Path, rows: int, pending_share: float) -> None:
    """A CSV with `rows` distinct addresses, some without evidence."""
    cutoff = int(rows * pending_share)
    recent = (utcnow() - timedelta(days=30)).date().isoformat()
    evidence = "signup form v3 (archived),https://shop.example/signup,double opt-in,old shop"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(
            "email,name,topics,consented_at,locale,"
            "consent_text_ref,consent_where,consent_how,consent_system\n"
        )
        for i in range(rows):
            cells = ",nl,,,," if i < cutoff else f"{recent},nl,{evidence}"
            handle.write(f"person{i}@example.org,Person {i},newsletter,{cells}\n")


def fresh_schema() -> None:
    db.drop_all()
    db.create_all()
    with db.engine.begin() as connection:
        for table, values in default_rows(utcnow().replace(tzinfo=None)).items():
            connection.execute(db.metadata.tables[table].insert(), values)


def run_once(csv_path: Path, url: str, dry_run: bool = False) -> tuple[float, float]:
    """(seconds, peak RSS in MB of this process) of one import into a fresh schema."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "AUTO_UPGRADE_SQLITE": False,
            "MAIL_SERVER": None,
        }
    )
    with app.app_context():
        fresh_schema()
        started = time.perf_counter()
        with csv_path.open(encoding="utf-8") as stream:
            report = imports.import_csv(
                stream,
                "consent",
                "benchmark: shop checkout",
                True,
                dry_run=dry_run,
                keep_rows=dry_run,
            )
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
        elapsed = time.perf_counter() - started
        count = db.session.execute(text("SELECT count(*) FROM subscriber")).scalar()
        expected = 0 if dry_run else report.counts["rows"] - report.counts["skipped"]
        assert report.counts["rows"] > 0, report.counts
        assert count == expected, (count, report.counts)
        db.session.remove()
        db.engine.dispose()
    return elapsed, peak_rss_mb()


def _in_process(csv_path: Path, url: str, dry_run: bool, results) -> None:
    results.put(run_once(csv_path, url, dry_run))


def measure_rss(rows: int, scale: int, pending_share: float, tmp: str, url: str | None) -> None:
    """Peak RSS of an import of `rows` and of `scale` x `rows` rows, real and dry run."""
    spawn = multiprocessing.get_context("spawn")
    for count in (rows, rows * scale):
        csv_path = Path(tmp) / f"people-{count}.csv"
        write_file(csv_path, count, pending_share)
        for dry_run in (False, True):
            target = url or f"sqlite:///{tmp}/bench-{count}-{dry_run}.db"
            results = spawn.Queue()
            process = spawn.Process(target=_in_process, args=(csv_path, target, dry_run, results))
            process.start()
            seconds, rss = results.get()
            process.join()
            kind = "dry run (preview)" if dry_run else "import"
            print(f"{count:>9,} rows, {kind:<17}: peak RSS {rss:6.1f} MB, {seconds:6.1f} s")
        csv_path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pending-share", type=float, default=0.0)
    parser.add_argument("--rss", action="store_true", help="peak RSS at N and at 10 N only")
    parser.add_argument("--rss-scale", type=int, default=10)
    args = parser.parse_args()
    if args.rss:
        with tempfile.TemporaryDirectory() as tmp:
            url = os.environ.get("NEWSLETTER_BENCH_DATABASE_URL")
            measure_rss(args.rows, args.rss_scale, args.pending_share, tmp, url)
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "people.csv"
        write_file(csv_path, args.rows, args.pending_share)
        url = os.environ.get("NEWSLETTER_BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        times = []
        for run in range(args.runs):
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
            times.append(run_once(csv_path, url)[0])
            print(f"run {run + 1}: {times[-1]:.2f} s", flush=True)
    median = statistics.median(times)
    print(
        f"{args.rows} rows on {url.split(':')[0]}: median {median:.2f} s "
        f"({args.rows / median:,.0f} rows/s), pending share {args.pending_share}"
    )


if __name__ == "__main__":
    main()
