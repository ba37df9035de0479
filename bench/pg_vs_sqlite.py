"""PostgreSQL against SQLite, alternated in one run: the issue-17 ratio.

    python -m bench.pg_vs_sqlite --database-url postgresql://postgres@127.0.0.1:5432/bench

Both databases get the same N subscribers; then, `--reps` times, one campaign is sent
by `--workers` processes running `sending.send_pending` (the loop of `flask worker`)
to the fast sink, first on PostgreSQL and right after on SQLite (bench/send.py's
end-to-end run, the same code). Each rep prints both rates and their ratio; the medians
follow. Alternating keeps a machine whose speed drifts from favouring either side.
Every run must deliver to every recipient exactly once (the sink's counts).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from bench import send
from bench.sink import SinkProcess


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL URL")
    parser.add_argument("--n", type=int, default=20_000, help="subscribers")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dkim", action="store_true", help="sign (an RSA-2048 key made here)")
    args = parser.parse_args(argv)
    print(f"load before {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="nl-pg-vs-sqlite-") as tmp:
        workdir = Path(tmp)
        databases = {
            "postgresql": send.Database(args.database_url, workdir),
            "sqlite": send.Database(None, workdir),
        }
        key = send.make_dkim_key(workdir) if args.dkim else None
        try:
            for database in databases.values():
                database.fresh(args.n)
            with SinkProcess() as sink:
                reps = [_rep(args, databases, sink, key, rep) for rep in range(args.reps)]
        finally:
            for database in databases.values():
                database.drop()
    medians = {name: statistics.median(r[name]["rate"] for r in reps) for name in databases}
    ratio = statistics.median(r["ratio"] for r in reps)
    print(
        f"\n== python -m bench.pg_vs_sqlite --n {args.n} --workers {args.workers} "
        f"--reps {args.reps}{' --dkim' if args.dkim else ''}\n"
        f"   medians of {args.reps}: PostgreSQL {medians['postgresql']:,.0f} msg/s, SQLite "
        f"{medians['sqlite']:,.0f} msg/s; PostgreSQL / SQLite x{ratio:.2f} (median of the "
        f"reps' ratios); load after {os.getloadavg()[0]:.2f}"
    )


def _rep(args, databases: dict, sink: SinkProcess, key: str | None, rep: int) -> dict:
    run: dict = {}
    for name, database in databases.items():
        config = send.app_config(database.url, (sink.host, sink.port), key)
        sink.reset()
        figures = send.send_campaign(config, args.workers, args.batch_size)
        stats = sink.stats()
        exact = stats["messages"] == figures["total"] == stats["recipients"]
        if not (exact and stats["duplicates"] == 0):
            raise SystemExit(f"{name}: not every recipient exactly once: {stats}")
        send._clear_deliveries(config)
        run[name] = figures
    run["ratio"] = run["postgresql"]["rate"] / run["sqlite"]["rate"]
    print(
        f"  rep {rep + 1}: PostgreSQL {run['postgresql']['rate']:,.0f} msg/s (workers "
        f"{run['postgresql']['worker_cpu_us_per_message']:.0f} us CPU a message), SQLite "
        f"{run['sqlite']['rate']:,.0f} msg/s ({run['sqlite']['worker_cpu_us_per_message']:.0f}"
        f" us); x{run['ratio']:.2f}",
        flush=True,
    )
    return run


if __name__ == "__main__":
    main()
