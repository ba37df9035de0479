"""How long after an opt-out's COMMIT returns does a sender learn of it? (issue 17)

    python -m bench.notify_delay --database-url postgresql://postgres@127.0.0.1:5432/bench

One connection LISTENs as a sender does (newsletter/sending/changes.py) and polls its
socket without waiting, as `Watcher.quiet` does before each message; another commits a
NOTIFY on the same channel, `--n` times. Printed: the median and the 99th percentile of
the time from the commit's return to the notification's arrival. This is the window in
which a message may still be handed over after an opt-out committed (the per-message
re-check has one too: from its read to the hand-off).
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from newsletter.sending.changes import CHANNEL


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL URL")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args(argv)
    with (
        psycopg.connect(args.database_url, autocommit=True) as listener,
        psycopg.connect(args.database_url, autocommit=True) as notifier,
    ):
        listener.execute(f"LISTEN {CHANNEL}")
        pgconn = listener.pgconn
        delays = []
        for _ in range(args.n):
            notifier.execute(f"NOTIFY {CHANNEL}")
            committed = time.perf_counter()
            while True:
                pgconn.consume_input()
                if pgconn.notifies() is not None:
                    break
            delays.append((time.perf_counter() - committed) * 1e6)
        delays.sort()
        p99 = delays[int(len(delays) * 0.99)]
        print(
            f"commit returned -> notification read: median {statistics.median(delays):.0f} us, "
            f"p99 {p99:.0f} us, max {delays[-1]:.0f} us ({args.n} notifications)"
        )


if __name__ == "__main__":
    main()
