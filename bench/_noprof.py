"""Profile one worker sending a campaign to the fast sink, with pyinstrument.

    python -m bench.profile_send 5000          # DKIM off
    python -m bench.profile_send 5000 --dkim   # DKIM on (RSA-2048 made for the run)

Prints the rate, the CPU time per message and pyinstrument's call tree of
`sending.send_pending` (the loop of `flask worker`), one process, batches of 500.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cProfile, pstats

from bench import send
from bench.sink import SinkProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=5000)
    parser.add_argument("--dkim", action="store_true")
    args = parser.parse_args()
    from newsletter import sending

    workdir = Path(tempfile.mkdtemp(prefix="nl-profile-"))
    url, _ = send.Database(None, workdir).fresh(args.n)
    with SinkProcess() as sink:
        key = send.make_dkim_key(workdir) if args.dkim else None
        config = send.app_config(url, (sink.host, sink.port), key)
        send._run_in_process(send._queue, config)
        app = send._quiet_app({**config, "SEND_BATCH_SIZE": 500})
        with app.app_context():
            profiler = cProfile.Profile()
            pass
            started, cpu = time.perf_counter(), time.process_time()
            counts = sending.send_pending("profile", until_idle=True)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            pass
    print(counts, f"{args.n / elapsed:,.0f} msg/s, {cpu / args.n * 1e6:,.0f} us CPU a message")
    pass


if __name__ == "__main__":
    main()
