"""Profile one worker sending a campaign to the fast sink, with pyinstrument.

    python -m bench.profile_send 5000          # DKIM off
    python -m bench.profile_send 5000 --dkim   # DKIM on (RSA-2048 made for the run)
    python -m bench.profile_send 10000 --plain --reps 3   # no profiler: rate and CPU
    python -m bench.profile_send 10000 --database-url postgresql://postgres@127.0.0.1:5432/test
    python -m bench.profile_send 3000 --mta postfix   # through a private Postfix (root)

Prints the rate, the CPU time per message and pyinstrument's call tree of
`sending.send_pending` (the loop of `flask worker`), one process, batches of 500; to
the fast sink, or with `--mta postfix` to a private Postfix (tests/postfix.py).
With --plain, no profiler runs (it costs the loop about a third more) and each rep
sends a fresh list; the medians are printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pyinstrument import Profiler

from bench import send


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=5000)
    parser.add_argument("--dkim", action="store_true")
    parser.add_argument("--plain", action="store_true", help="no profiler")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: SQLite file)")
    parser.add_argument("--mta", choices=("sink", "postfix"), default="sink")
    args = parser.parse_args()
    figures = [_run(args) for _ in range(args.reps)]
    if len(figures) > 1:
        rates, cpus = zip(*figures, strict=True)
        print(f"median of {len(figures)}: {statistics.median(rates):,.0f} msg/s, "
              f"{statistics.median(cpus):,.0f} us CPU a message")  # fmt: skip


def _run(args) -> tuple[float, float]:
    from newsletter import sending
    from newsletter.extensions import db

    workdir = Path(tempfile.mkdtemp(prefix="nl-profile-"))
    database = send.Database(args.database_url, workdir)
    url, _ = database.fresh(args.n)
    with send._server(args.mta) as server:
        key = send.make_dkim_key(workdir) if args.dkim else None
        config = send.app_config(url, (server.host, server.port), key)
        send._run_in_process(send._queue, config)
        app = send._quiet_app({**config, "SEND_BATCH_SIZE": 500})
        with app.app_context():
            profiler = None if args.plain else Profiler(interval=0.0005)
            if profiler is not None:
                profiler.start()
            started, cpu = time.perf_counter(), time.process_time()
            counts = sending.send_pending("profile", until_idle=True)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            if profiler is not None:
                profiler.stop()
            db.session.remove()
            db.engine.dispose()
    database.drop()
    rate, cpu_us = args.n / elapsed, cpu / args.n * 1e6
    print(counts, f"{rate:,.0f} msg/s, {cpu_us:,.0f} us CPU a message")
    if profiler is not None:
        print(profiler.output_text(unicode=False, color=False))
    return rate, cpu_us


if __name__ == "__main__":
    main()
