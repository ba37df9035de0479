"""How the ways of writing to an SMTP server compare, through a real Postfix (or the sink).

    python -m bench.smtp_modes                  # Postfix on loopback, 2,000 messages, 3 reps
    python -m bench.smtp_modes --mta sink --messages 20000

One connection, the same pre-built message (a real message of the bench campaign) to
distinct recipients, in each of these modes, one after the other in every rep:

- `smtplib`: `smtplib.SMTP.sendmail` in a loop (four round trips a message);
- `bdat-sliding`: the project's transport (`sending.SmtpTransport`) as it is: BDAT,
  replies read as they come, a wait only when SMTP_WINDOW messages are unanswered,
  TCP_QUICKACK before each wait;
- `bdat-sliding-no-quickack`: the same without TCP_QUICKACK;
- `bdat-drain`: the window as it was before (session 3): write SMTP_WINDOW messages,
  then wait for all their replies before writing again;
- `bdat-drain-quickack`: the same with TCP_QUICKACK;
- `data-pipelined`: MAIL, RCPT and DATA in one write, then the message (two round trips).

Prints the rate of each (messages accepted a second), the median of the reps, and the
ratio to smtplib of the same rep. Through Postfix, each run starts with its queue empty.
"""

from __future__ import annotations

import argparse
import smtplib
import socket
import statistics
import tempfile
import time
from pathlib import Path

from bench import send

MODES = (
    "smtplib",
    "bdat-sliding",
    "bdat-sliding-no-quickack",
    "bdat-drain",
    "bdat-drain-quickack",
    "data-pipelined",
)


def run_mode(mode: str, host: str, port: int, sender: str, raw: bytes, count: int, tag: str):
    from newsletter.sending.transports import ACCEPTED, smtp

    recipients = [f"{tag}.{n}@bench.example.org" for n in range(count)]
    if mode == "smtplib":
        connection = smtplib.SMTP(host, port, timeout=60)
        connection.ehlo()
        started = time.perf_counter()
        for recipient in recipients:
            connection.sendmail(sender, [recipient], raw)
        elapsed = time.perf_counter() - started
        connection.quit()
        return count / elapsed
    quickack = mode in ("bdat-sliding", "bdat-drain-quickack")
    smtp.QUICKACK = getattr(socket, "TCP_QUICKACK", None) if quickack else None
    transport = smtp.SmtpTransport(send._mail_config(host, port))
    transport.send(sender, f"{tag}.first@bench.example.org", "", raw, None)  # connect
    transport.flush()
    if mode == "data-pipelined":
        transport.chunking = False
    drain = mode.startswith("bdat-drain")
    errors = 0
    started = time.perf_counter()
    for number, recipient in enumerate(recipients, 1):
        errors += sum(o.kind != ACCEPTED for o in transport.send(sender, recipient, "", raw, 0))
        if drain and number % smtp.SMTP_WINDOW == 0:
            errors += sum(o.kind != ACCEPTED for o in transport.flush())
    errors += sum(o.kind != ACCEPTED for o in transport.flush())
    elapsed = time.perf_counter() - started
    transport.close()
    if errors:
        raise RuntimeError(f"{mode}: {errors} messages not accepted")
    return count / elapsed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mta", choices=("postfix", "sink"), default="postfix")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    with tempfile.TemporaryDirectory(prefix="nl-modes-") as tmp:
        url = send.dataset.sqlite_url(Path(tmp))
        sender, raw = send.prebuilt_message(send.app_config(url, None, None))
    print(f"{send.platform.node()}: {args.messages} messages of {len(raw)} bytes, {args.mta}")
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    ratios: dict[str, list[float]] = {mode: [] for mode in modes}
    with send._server(args.mta) as server:
        for rep in range(args.reps):
            line = {}
            for mode in modes:
                server.reset()
                line[mode] = run_mode(
                    mode, server.host, server.port, sender, raw, args.messages, f"{mode}{rep}"
                )
                rates[mode].append(line[mode])
            for mode in modes:
                if "smtplib" in line:
                    ratios[mode].append(line[mode] / line["smtplib"])
            print(
                f"  rep {rep + 1} (load {send.os.getloadavg()[0]:.1f}): "
                + ", ".join(f"{m} {r:,.0f}" for m, r in line.items()),
                flush=True,
            )
    print(f"\nmedians of {args.reps} (msg/s, and x smtplib of the same rep):")
    for mode in modes:
        ratio = f"  x{statistics.median(ratios[mode]):.2f}" if ratios[mode] else ""
        print(f"  {mode:26} {statistics.median(rates[mode]):8,.0f}{ratio}")


if __name__ == "__main__":
    main()
