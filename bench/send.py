"""Sending benchmark: the real sending path against two baselines, in one run.

    python -m bench.send                       # 100,000 subscribers, SQLite, 2 workers
    python -m bench.send --database-url postgresql://postgres@127.0.0.1:5432/postgres
    python -m bench.send --mta postfix --n 5000 --dkim off --cli   # through real Postfix
    python -m bench.send --rss-check           # peak RSS at N and 10 N only

What one run does (docs/PERFORMANCE.md has the figures and the reasoning):

1. Creates a fresh database (a SQLite file, or a private PostgreSQL database next to
   `--database-url`) with N active subscribers, inserted in bulk, and times that.
2. Starts the SMTP server: the fast sink (bench/sink.py) in its own process, or with
   `--mta postfix` a private Postfix on loopback (tests/postfix.py: Debian's Postfix,
   maildir delivery; needs root).
3. For DKIM off, then on (an RSA-2048 key generated for the run), `--reps` times:
   - smtplib baseline: `--workers` processes (one with `--smtplib-connections 1`), one
     smtplib connection each, `sendmail` of pre-built bytes (a real message of this
     campaign) in a tight loop, `--baseline-messages` in all (default: N);
   - wire baseline (the limit): as many processes and connections, each writing the
     same pre-built bytes through the project's own transport (`sending.SmtpTransport`:
     PIPELINING, BDAT, the same SMTP_WINDOW): what the wire and the server allow when
     nothing is built, checked or recorded;
   - end-to-end: a campaign is created and queued exactly as `flask campaign send` does
     (`campaigns.start_sending`, in a process of its own), then `--workers` processes
     each run `sending.send_pending`, the loop of `flask worker`, until nothing is left.
     The rate is messages accepted / wall time from "go" to the last worker done; the
     server's per-recipient count must show every recipient exactly once;
   - with DKIM on, the signing baseline (the limit when signing): one process, then
     `--workers` processes at once, doing nothing but DKIM-sign an unsigned message of
     this campaign with the project's signer (relaxed/simple, RSA-2048 through
     OpenSSL), `--baseline-messages` in all; the end-to-end rate is divided by the
     one-process rate times the workers (the issue's "one core's RSA rate times the
     cores") and by the rate of the processes signing at once;
   - with `--cli`: the command people type, `flask campaign send ID --wait`, in a
     process of its own, with `--processes 1` and with its default (one per CPU); rate
     of the whole command (interpreter start, queueing, sending) and of its sending
     phase (from its "recipients queued" line to its report).
   Medians of the reps are reported, with the ratios to each baseline of the same rep.
   Through Postfix, each run starts with Postfix's queue empty (its deliveries of the
   run before are waited for).
4. Peak RSS per worker process (VmHWM) at N and at 10 N (`--rss-scale`), with the
   sending path's transport replaced by one that discards the bytes (`--rss-check`
   mode, no sink), and the peak of the process that queued the campaign.
5. Signup latency: gunicorn (`--signup-server-workers` processes, threads) serving the
   app on loopback with the signup rate limit raised; `--signup-clients` threads post
   new addresses to /subscribe; p50/p99 of the POSTs. Confirmation mail goes to the sink.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import resource
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from bench import dataset
from bench.sink import SinkProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "https://news.bench.example"
SENDER = "Bench Shop <news@bench.example>"
SUBJECT = "Spring news from Bench Shop"
BODY = """# Spring is here

Dear reader, our **spring collection** has arrived. Read about it
[on our site](https://shop.bench.example/spring) or visit one of our shops.

* New colours for the garden chairs
* A longer guarantee on every bicycle
* Free repairs in April

> "The best shop in town" -- a happy customer

Thank you for reading, and see you soon.
"""
SPAWN = multiprocessing.get_context("spawn")


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MB.

    VmHWM from /proc: `getrusage`'s ru_maxrss survives exec on Linux, so a spawned
    child would report the parent's peak at fork time.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def app_config(database_url: str, mail: tuple[str, int] | None, dkim_key: str | None) -> dict:
    """The app configuration every process of the bench uses."""
    config = {
        "SECRET_KEY": "bench-secret-key-0123456789abcdef",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "AUTO_UPGRADE_SQLITE": False,
        "BASE_URL": BASE_URL,
        "MAIL_DEFAULT_SENDER": SENDER,
        "MAIL_SERVER": mail[0] if mail else None,
        "MAIL_PORT": mail[1] if mail else 25,
        "ORGANIZATION_NAME": "Bench Shop",
        "ORGANIZATION_ADDRESS": "Marktplein 1, 9000 Gent, Belgium",
    }
    if dkim_key:
        config |= {
            "DKIM_DOMAIN": "bench.example",
            "DKIM_SELECTOR": "bench",
            "DKIM_PRIVATE_KEY_PATH": dkim_key,
        }
    return config


def _quiet_app(config: dict):
    import logging

    from newsletter import create_app

    app = create_app(config)
    logging.getLogger().setLevel(logging.WARNING)
    return app


# --- processes ---------------------------------------------------------------------------


class NullTransport:
    """Discards every message (for --rss-check: memory of the sending path, no SMTP)."""

    flush_every = 0

    def send(self, sender: str, recipient: str, subject: str, raw: bytes, tag) -> list:
        from newsletter.sending.transports import ACCEPTED, Outcome

        return [Outcome(tag, ACCEPTED)]

    def flush(self) -> list:
        return []

    def close(self) -> None:
        pass


def _send(sending, limit: int | None) -> dict:
    """`send_pending` as `flask worker` runs it; with `limit`, one batch at a time until
    this process has sent about `limit` messages (the RSS check at 10 N)."""
    worker_id = sending.new_worker_id()
    if limit is None:
        return sending.send_pending(worker_id, until_idle=True)
    totals: dict[str, int] = {}
    while totals.get("sent", 0) < limit:
        counts = sending.send_pending(worker_id, until_idle=False)
        if not counts.get("batches"):
            break
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def _worker(
    config: dict, batch_size: int, null_transport: bool, limit: int | None, ready, go, results
) -> None:
    """One worker process: the loop of `flask worker` until nothing is left to send."""
    from newsletter import sending
    from newsletter.extensions import db
    from newsletter.sending import transports

    config = {**config, "SEND_BATCH_SIZE": batch_size}
    app = _quiet_app(config)
    if null_transport:
        transports.make_transport = NullTransport
    with app.app_context():
        db.session.execute(db.select(1))  # connect before the clock starts
        ready.put(os.getpid())
        go.wait()
        started, cpu = time.perf_counter(), time.process_time()
        counts = _send(sending, limit)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        db.session.remove()
    results.put({"counts": counts, "seconds": elapsed, "cpu": cpu, "rss_mb": peak_rss_mb()})


def _queue(config: dict, results) -> None:
    """Create the campaign and queue it (what `flask campaign send ID` does)."""
    from sqlalchemy import select

    from newsletter import campaigns
    from newsletter.extensions import db
    from newsletter.models import Topic

    app = _quiet_app(config)
    with app.app_context():
        topic = db.session.scalar(select(Topic).where(Topic.slug == "newsletter"))
        campaign = campaigns.create_campaign(SUBJECT, BODY, topic, created_by="bench")
        db.session.commit()
        started = time.perf_counter()
        total = campaigns.start_sending(campaign)
        db.session.commit()
        elapsed = time.perf_counter() - started
        results.put(
            {
                "campaign_id": campaign.id,
                "total": total,
                "seconds": elapsed,
                "rss_mb": peak_rss_mb(),
            }
        )


def at_once(target, arguments: list[tuple]) -> tuple[list[dict], float]:
    """Start one process a tuple of `arguments` (each gets `ready, go, results` after
    them), wait until every one is ready, say go: (what each put in `results`, wall
    seconds from go to the last result)."""
    ready, go, results = SPAWN.Queue(), SPAWN.Event(), SPAWN.Queue()
    processes = [
        SPAWN.Process(target=target, args=(*args, ready, go, results)) for args in arguments
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    started = time.perf_counter()
    go.set()
    outcomes = [results.get(timeout=3600) for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    return outcomes, elapsed


def _run_in_process(target, *args) -> dict:
    results = SPAWN.Queue()
    process = SPAWN.Process(target=target, args=(*args, results))
    process.start()
    result = results.get()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"{target.__name__} failed with exit code {process.exitcode}")
    return result


def send_campaign(
    config: dict, workers: int, batch_size: int, null_transport=False, limit: int | None = None
) -> dict:
    """Queue one campaign, then send it with `workers` processes; timings and RSS.

    With `limit`, the workers stop after about `limit` messages in all.
    """
    per_worker = None if limit is None else -(-limit // workers)
    queued = _run_in_process(_queue, config)
    outcomes, elapsed = at_once(
        _worker, [(config, batch_size, null_transport, per_worker)] * workers
    )
    sent = sum(o["counts"].get("sent", 0) for o in outcomes)
    return {
        "total": queued["total"],
        "queue_seconds": queued["seconds"],
        "queue_rss_mb": queued["rss_mb"],
        "sent": sent,
        "other": [{k: v for k, v in o["counts"].items() if k != "sent"} for o in outcomes],
        "seconds": elapsed,
        "rate": sent / elapsed,
        "worker_rss_mb": [round(o["rss_mb"], 1) for o in outcomes],
        "worker_cpu_us_per_message": sum(o["cpu"] for o in outcomes) / max(sent, 1) * 1e6,
    }


def _clear_deliveries(config: dict) -> None:
    from newsletter.extensions import db

    app = _quiet_app(config)
    with app.app_context():
        db.session.execute(db.text("DELETE FROM delivery"))
        db.session.execute(db.text("DELETE FROM campaign"))
        db.session.commit()
        db.engine.dispose()


# --- baseline ----------------------------------------------------------------------------


def prebuilt_message(config: dict, signed: bool = True) -> tuple[str, bytes]:
    """(envelope sender, bytes) of one real message of the bench campaign (DKIM-signed
    when the configuration has a key, unless `signed` is False)."""
    from newsletter import messages
    from newsletter.models import Campaign, Topic

    app = _quiet_app(config)
    with app.app_context():
        topic = Topic(id=1, slug="newsletter", name="Newsletter", own_similar_products=False)
        campaign = Campaign(id=1, subject=SUBJECT, body_markdown=BODY, topic=topic, preheader="")
        prepared = messages.prepare(campaign)
        recipient = messages.Recipient(
            dataset.address(1), None, "AAAAAAAAAAAAAAAAAAAAAA", "consent", None
        )
        raw = prepared.compose(recipient, unique="c1.d1").raw
        return prepared.envelope_from, prepared.sign(raw) if signed else raw


def _mail_config(host: str, port: int) -> dict:
    return {
        "MAIL_SERVER": host,
        "MAIL_PORT": port,
        "MAIL_USE_SSL": False,
        "MAIL_USE_TLS": False,
        "MAIL_TIMEOUT": 60,
        "MAIL_USERNAME": None,
        "MAIL_PASSWORD": None,
        "MAIL_EHLO_NAME": "bench.example.org",  # as the app says EHLO (mailer.ehlo_name)
    }


def _smtplib_loop(host: str, port: int, sender: str, raw: bytes, count: int, tag: str, ready, go,
                  results) -> None:  # fmt: skip
    """One connection, `sendmail` of the same bytes `count` times (smtplib baseline)."""
    connection = smtplib.SMTP(host, port, timeout=60)
    connection.ehlo()
    ready.put(os.getpid())
    go.wait()
    started = time.perf_counter()
    for number in range(count):
        connection.sendmail(sender, [f"base{tag}.{number}@bench.example.org"], raw)
    elapsed = time.perf_counter() - started
    connection.quit()
    results.put({"seconds": elapsed, "errors": 0})


def _wire_loop(host: str, port: int, sender: str, raw: bytes, count: int, tag: str, ready, go,
               results) -> None:  # fmt: skip
    """One connection of the project's transport writing the same bytes `count` times:
    PIPELINING and BDAT with the same window and groups as the sender (the wire
    baseline)."""
    from newsletter.sending.transports import ACCEPTED, Handoff
    from newsletter.sending.transports.smtp import SmtpTransport

    transport = SmtpTransport(_mail_config(host, port))
    transport.send(sender, f"wire{tag}.first@bench.example.org", "", raw, None)  # connect
    errors = sum(o.kind != ACCEPTED for o in transport.flush())
    ready.put(os.getpid())
    go.wait()
    started = time.perf_counter()
    for first in range(0, count, transport.group):
        numbers = range(first, min(first + transport.group, count))
        group = [Handoff(sender, f"wire{tag}.{n}@bench.example.org", "", raw, 0) for n in numbers]
        outcomes = transport.send_group(group)
        errors += sum(o.kind != ACCEPTED for o in outcomes)
    errors += sum(o.kind != ACCEPTED for o in transport.flush())
    elapsed = time.perf_counter() - started
    transport.close()
    results.put({"seconds": elapsed, "errors": errors})


def baseline(loop, host: str, port: int, sender: str, raw: bytes, count: int,
             connections: int, tag: str) -> float:  # fmt: skip
    """Messages a second of `connections` processes running `loop` (one connection
    each) on `count` messages in all; wall time from "go" to the last one done."""
    share = -(-count // connections)
    outcomes, elapsed = at_once(
        loop, [(host, port, sender, raw, share, f"{tag}.{i}") for i in range(connections)]
    )
    errors = sum(o["errors"] for o in outcomes)
    if errors:
        raise RuntimeError(f"{loop.__name__}: {errors} messages not accepted")
    return share * connections / elapsed


def _signing_loop(key_path: str, raw: bytes, count: int, ready, go, results) -> None:
    """Nothing but DKIM signatures of the same unsigned message, `count` times."""
    from newsletter.sending.signing import DkimSigner

    signer = DkimSigner("bench.example", "bench", Path(key_path).read_bytes())
    signer.sign(raw)
    ready.put(os.getpid())
    go.wait()
    started = time.perf_counter()
    for _ in range(count):
        signer.sign(raw)
    results.put({"seconds": time.perf_counter() - started})


def signing_baseline(key_path: str, raw: bytes, count: int, processes: int) -> float:
    """Signatures a second of `processes` processes signing `count` messages in all."""
    share = -(-count // processes)
    _, elapsed = at_once(_signing_loop, [(key_path, raw, share)] * processes)
    return share * processes / elapsed


# --- the command people type ---------------------------------------------------------------


def _create_draft(config: dict, results) -> None:
    from sqlalchemy import select

    from newsletter import campaigns
    from newsletter.extensions import db
    from newsletter.models import Topic

    app = _quiet_app(config)
    with app.app_context():
        topic = db.session.scalar(select(Topic).where(Topic.slug == "newsletter"))
        campaign = campaigns.create_campaign(SUBJECT, BODY, topic, created_by="bench")
        db.session.commit()
        results.put({"campaign_id": campaign.id})


def run_cli(config: dict, batch_size: int | None, processes: int | None) -> dict:
    """`flask campaign send ID --wait` (with `--processes` when given) in a new process,
    as people run it (SEND_BATCH_SIZE: the app's default unless `batch_size`); rates of
    the whole command and of its sending phase."""
    campaign_id = _run_in_process(_create_draft, config)["campaign_id"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSLETTER_")}
    settings = {**config, "SEND_BATCH_SIZE": batch_size} if batch_size else config
    for key, value in settings.items():
        if value is not None:
            env[f"NEWSLETTER_{key}"] = value if isinstance(value, str) else json.dumps(value)
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "flask", "--app", "app", "campaign", "send",
               str(campaign_id), "--wait"]  # fmt: skip
    if processes:
        command += ["--processes", str(processes)]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    queued_at = reported_at = None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if queued_at is None and "recipients queued" in line:
            queued_at = time.perf_counter()
        if line.startswith("{"):
            reported_at = time.perf_counter()
    errors = process.stderr.read()
    code = process.wait()
    ended = time.perf_counter()
    if code != 0 or queued_at is None or reported_at is None:
        raise RuntimeError(f"campaign send --wait failed ({code}): {''.join(lines)}{errors}")
    report = json.loads(lines[-1])
    return {
        "command": " ".join(command[2:]),
        "total": report["total"],
        "sent": report["sent"],
        "seconds": ended - started,
        "send_seconds": reported_at - queued_at,
        "rate": report["sent"] / (ended - started),
        "send_rate": report["sent"] / (reported_at - queued_at),
        "output": "".join(line for line in lines if not line.startswith("{")).strip(),
    }


# --- signup latency ----------------------------------------------------------------------


def _post_signups(port: int, prefix: str, count: int, latencies: list, errors: list) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    for number in range(count):
        body = urllib.parse.urlencode(
            {
                "email": f"{prefix}.{number}@signup.example.org",
                "topics": "newsletter",
                "consent": "y",
                "consent_text_id": "1",
            }
        )
        started = time.perf_counter()
        try:
            connection.request("POST", "/subscribe", body, headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            errors.append(repr(exc))
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            continue
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            errors.append(response.status)
    connection.close()


def _start_server(config: dict, server_workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key, value in config.items():
        if value is not None:
            env[f"NEWSLETTER_{key}"] = value if isinstance(value, str) else json.dumps(value)
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "app:app", "--bind", f"127.0.0.1:{port}",
            "--workers", str(server_workers), "--worker-class", "gthread",
            "--threads", str(threads), "--log-level", "warning",
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/subscribe")
            if connection.getresponse().status == 200:
                return server, port
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("the signup server did not start")


def signup_latency(config: dict, clients: int, per_client: int, server_workers: int) -> dict:
    """p50/p99 of POST /subscribe with `clients` concurrent clients."""
    config = {
        **config,
        "SIGNUP_RATE_LIMIT": "1000000 per minute",
        "CONFIRM_MAILS_PER_ADDRESS": 1000,
        "WTF_CSRF_ENABLED": False,
    }
    server, port = _start_server(config, server_workers, threads=max(4, clients // server_workers))
    latencies: list[float] = []
    errors: list = []
    try:
        run = f"r{int(time.time())}"
        threads = [
            threading.Thread(
                target=_post_signups, args=(port, f"{run}.{i}", per_client, latencies, errors)
            )
            for i in range(clients)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_sample": errors[:5],
        "per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


# --- the run -----------------------------------------------------------------------------


class Database:
    """The bench database: a SQLite file or a private PostgreSQL database."""

    def __init__(self, url: str | None, workdir: Path):
        self.postgres = bool(url)
        self.base_url, self.workdir = url, workdir
        self.url: str | None = None

    def fresh(self, subscribers: int) -> tuple[str, float]:
        """A new database with `subscribers` subscribers; (url, seconds to fill it)."""
        self.drop()
        if self.postgres:
            self.url = dataset.create_postgres_database(self.base_url)
        else:
            self.url = dataset.sqlite_url(self.workdir)
        app = _quiet_app(app_config(self.url, None, None))
        with app.app_context():
            from newsletter.extensions import db

            dataset.create_schema()
            started = time.perf_counter()
            dataset.insert_subscribers(subscribers)
            elapsed = time.perf_counter() - started
            db.engine.dispose()
        return self.url, elapsed

    def drop(self) -> None:
        if self.postgres and self.url:
            dataset.drop_postgres_database(self.url)
        self.url = None


def make_dkim_key(directory: Path) -> str:
    """A new RSA-2048 key for this run (PEM file); returns its path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


class SinkServer:
    """The fast sink as the bench's SMTP server."""

    name = "sink"

    def __init__(self, sink: SinkProcess):
        self.sink, self.host, self.port = sink, sink.host, sink.port

    def reset(self) -> None:
        self.sink.reset()

    def stats(self, expected: int) -> dict:
        return self.sink.stats()


class PostfixServer:
    """A private Postfix on loopback (tests/postfix.py) as the bench's SMTP server: it
    accepts into its queue and delivers to a maildir behind the sender's back, so each
    run waits for the previous run's deliveries, and counts from the maildir."""

    name = "postfix"

    def __init__(self, instance):
        self.instance, self.host, self.port = instance, instance.host, instance.port

    def reset(self) -> None:
        deadline = time.monotonic() + 1800
        while not self.instance.queue_is_empty() and time.monotonic() < deadline:
            time.sleep(0.2)
        for path in self.instance.maildir_files():
            path.unlink()

    def stats(self, expected: int) -> dict:
        counts = self.instance.wait_for(expected, timeout=1800)
        campaign = {a: n for a, n in counts.items() if a.startswith("reader")}
        return {
            "messages": sum(campaign.values()),
            "recipients": len(campaign),
            "duplicates": sum(n - 1 for n in campaign.values()),
            "cpu_us": 0,
        }


def _pause(args) -> None:
    if args.pause:
        time.sleep(args.pause)


def measure_sending(args, database: Database, server, dkim_key: str) -> dict:
    """The baselines, end-to-end and (with --cli) the command, DKIM off and on,
    `args.reps` times each."""
    results = {}
    connections = args.smtplib_connections or args.workers
    count = args.baseline_messages or args.n
    for mode, key in (("dkim_off", None), ("dkim_on", dkim_key)):
        if args.dkim != "both" and args.dkim != mode.split("_")[1]:
            continue
        config = app_config(database.url, (server.host, server.port), key)
        sender, raw = prebuilt_message(config)
        reps = []
        for rep in range(args.reps):
            run: dict = {}
            server.reset()
            run["baseline_rate"] = baseline(
                _smtplib_loop, server.host, server.port, sender, raw, count, connections,
                f"s{rep}",
            )  # fmt: skip
            if args.cli and connections > 1:  # for the command's one-process run
                _pause(args)
                server.reset()
                run["baseline_rate_1"] = baseline(
                    _smtplib_loop, server.host, server.port, sender, raw, count, 1, f"o{rep}"
                )
            _pause(args)
            server.reset()
            run["wire_rate"] = baseline(
                _wire_loop, server.host, server.port, sender, raw, count, args.workers, f"w{rep}"
            )
            if key:
                _pause(args)
                _, unsigned = prebuilt_message(config, signed=False)
                run["signing_rate_1"] = signing_baseline(key, unsigned, count, 1)
                run["signing_rate"] = signing_baseline(key, unsigned, count, args.workers)
            if not args.no_workers:
                _pause(args)
                server.reset()
                run |= send_campaign(config, args.workers, args.batch_size)
                stats = server.stats(run["total"])
                run |= {"ratio": run["rate"] / run["baseline_rate"], "sink": stats}
                run["wire_ratio"] = run["rate"] / run["wire_rate"]
                if key:
                    run["signing_ratio_cores"] = run["rate"] / (
                        run["signing_rate_1"] * args.workers
                    )
                    run["signing_ratio"] = run["rate"] / run["signing_rate"]
                run["sink_cpu_us_per_message"] = stats["cpu_us"] / max(stats["messages"], 1)
                exact = stats["messages"] == run["total"] == stats["recipients"]
                run["every_recipient_once"] = exact and stats["duplicates"] == 0
                _clear_deliveries(config)
            if args.cli:
                for label, processes in (("cli_1", 1), ("cli", args.cli_processes)):
                    _pause(args)
                    server.reset()
                    figures = run_cli(config, args.cli_batch_size, processes)
                    stats = server.stats(figures["total"])
                    exact = stats["messages"] == figures["total"] == stats["recipients"]
                    figures["every_recipient_once"] = exact and stats["duplicates"] == 0
                    one = label == "cli_1" and run.get("baseline_rate_1")
                    figures["send_ratio"] = figures["send_rate"] / (one or run["baseline_rate"])
                    figures["baseline"] = "1 connection" if one else f"{connections} connections"
                    run[label] = figures
                    _clear_deliveries(config)
                run["cli_ratio"] = run["cli"]["rate"] / run["cli_1"]["rate"]
                run["cli_send_ratio"] = run["cli"]["send_rate"] / run["cli_1"]["send_rate"]
            reps.append(run)
            print(f"  {mode} rep {rep + 1}: {_rep_line(run)}", flush=True)
        results[mode] = _medians(reps, len(raw))
    return results


def _rep_line(run: dict) -> str:
    parts = [
        f"smtplib baseline {run['baseline_rate']:,.0f} msg/s",
        *(
            [f"with 1 connection {run['baseline_rate_1']:,.0f} msg/s"]
            if "baseline_rate_1" in run
            else []
        ),
        f"wire baseline {run['wire_rate']:,.0f} msg/s",
    ]
    if "signing_rate" in run:
        parts.append(
            f"signing only {run['signing_rate_1']:,.0f}/s in one process, "
            f"{run['signing_rate']:,.0f}/s in all at once"
        )
    if "rate" in run:
        parts += [
            f"end-to-end {run['rate']:,.0f} msg/s (x{run['ratio']:.2f} smtplib, "
            f"x{run['wire_ratio']:.2f} wire"
            + (
                f", x{run['signing_ratio_cores']:.2f} one signing process x workers, "
                f"x{run['signing_ratio']:.2f} signing at once"
                if "signing_ratio" in run
                else ""
            )
            + ")",
            f"queued in {run['queue_seconds']:.1f} s",
            f"worker RSS {run['worker_rss_mb']} MB",
            f"CPU a message: workers {run['worker_cpu_us_per_message']:.0f} us, sink "
            f"{run['sink_cpu_us_per_message']:.0f} us",
            f"exactly once: {run['every_recipient_once']}",
        ]
    for label in ("cli_1", "cli"):
        if label in run:
            cli = run[label]
            parts.append(
                f"{cli['command'].split(' campaign')[0]}... --wait "
                f"{'--processes 1' if label == 'cli_1' else '(default)'}: whole "
                f"{cli['rate']:,.0f} msg/s, sending {cli['send_rate']:,.0f} msg/s "
                f"(x{cli['send_ratio']:.2f} smtplib, {cli['baseline']}), exactly once: "
                f"{cli['every_recipient_once']}"
            )
    if "cli_ratio" in run:
        parts.append(
            f"command default / one process: x{run['cli_ratio']:.2f} whole, "
            f"x{run['cli_send_ratio']:.2f} sending"
        )
    return "; ".join(parts)


def _medians(reps: list[dict], message_bytes: int) -> dict:
    def median(key: str, label: str | None = None):
        values = [(r[label] if label else r).get(key) for r in reps if not label or label in r]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    figures = {
        "message_bytes": message_bytes,
        "baseline_rate": median("baseline_rate"),
        "baseline_rate_1": median("baseline_rate_1"),
        "wire_rate": median("wire_rate"),
        "signing_rate_1": median("signing_rate_1"),
        "signing_rate": median("signing_rate"),
        "reps": reps,
    }
    if "rate" in reps[0]:
        figures |= {
            "end_to_end_rate": median("rate"),
            "ratio": median("ratio"),
            "wire_ratio": median("wire_ratio"),
            "signing_ratio_cores": median("signing_ratio_cores"),
            "signing_ratio": median("signing_ratio"),
            "queue_seconds": median("queue_seconds"),
            "worker_rss_mb_max": max(max(r["worker_rss_mb"]) for r in reps),
            "every_recipient_once": all(r["every_recipient_once"] for r in reps),
        }
    if "cli" in reps[0]:
        for label in ("cli_1", "cli"):
            figures[label] = {
                "rate": median("rate", label),
                "send_rate": median("send_rate", label),
                "send_ratio": median("send_ratio", label),
                "baseline": reps[0][label]["baseline"],
                "every_recipient_once": all(r[label]["every_recipient_once"] for r in reps),
            }
        figures["cli_ratio"] = median("cli_ratio")
        figures["cli_send_ratio"] = median("cli_send_ratio")
    return figures


def measure_rss(args, database: Database) -> dict:
    """Peak RSS of the sending path at N and at rss_scale x N (transport discards)."""
    figures = {}
    for count in (args.n, args.n * args.rss_scale):
        url, fill_seconds = database.fresh(count)
        config = app_config(url, None, None)
        run = send_campaign(config, args.workers, args.batch_size, True, args.rss_send_limit)
        figures[str(count)] = {
            "fill_seconds": fill_seconds,
            "queue_seconds": run["queue_seconds"],
            "queue_rss_mb": round(run["queue_rss_mb"], 1),
            "send_seconds": run["seconds"],
            "rate_without_smtp": run["rate"],
            "sent": run["sent"],
            "worker_rss_mb": run["worker_rss_mb"],
        }
        print(f"  RSS at {count:,}: {figures[str(count)]}", flush=True)
    return figures


@contextlib.contextmanager
def _server(name: str):
    if name == "postfix":
        from tests.postfix import PostfixInstance

        with PostfixInstance() as instance:
            yield PostfixServer(instance)
    else:
        with SinkProcess() as sink:
            yield SinkServer(sink)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description="Sending benchmark (see module docstring).")
    parser.add_argument("--n", type=int, default=100_000, help="subscribers")
    parser.add_argument("--workers", type=int, default=2, help="sending processes")
    parser.add_argument("--batch-size", type=int, default=500, help="deliveries per claim")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--baseline-messages", type=int, help="messages of each baseline, in all (default: N)"
    )
    parser.add_argument(
        "--smtplib-connections",
        type=int,
        help="processes of the smtplib baseline (default: --workers)",
    )
    parser.add_argument("--mta", choices=("sink", "postfix"), default="sink")
    parser.add_argument("--no-workers", action="store_true", help="no flask-worker run")
    parser.add_argument("--cli", action="store_true", help="also time campaign send --wait")
    parser.add_argument(
        "--cli-processes", type=int, help="--processes of the second command run (default: its own)"
    )
    parser.add_argument(
        "--cli-batch-size", type=int, help="SEND_BATCH_SIZE of the command (default: the app's)"
    )
    parser.add_argument("--pause", type=float, default=0, help="seconds between runs")
    parser.add_argument("--dkim", choices=("both", "off", "on"), default="both")
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: SQLite file)")
    parser.add_argument("--rss-check", action="store_true", help="only the RSS figures")
    parser.add_argument("--rss-scale", type=int, default=10)
    parser.add_argument(
        "--rss-send-limit",
        type=int,
        help="in the RSS check, stop after this many messages (default: send them all)",
    )
    parser.add_argument("--no-rss", action="store_true", help="skip the RSS figures")
    parser.add_argument("--no-signup", action="store_true", help="skip the signup figures")
    parser.add_argument("--signup-clients", type=int, default=50)
    parser.add_argument("--signup-requests", type=int, default=40, help="per client")
    parser.add_argument("--signup-server-workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    report: dict = {
        "command": "python -m bench.send " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}, load before {os.getloadavg()[0]:.2f}",
        "database": "postgresql" if args.database_url else "sqlite",
        "n": args.n,
        "workers": args.workers,
        "batch_size": args.batch_size,
        "mta": args.mta,
    }
    print(report["machine"], flush=True)
    with tempfile.TemporaryDirectory(prefix="nl-bench-") as tmp:
        workdir = Path(tmp)
        database = Database(args.database_url, workdir)
        try:
            if not args.rss_check:
                _, report["fill_seconds"] = database.fresh(args.n)
                print(f"  {args.n:,} subscribers inserted in {report['fill_seconds']:.1f} s")
                with _server(args.mta) as server:
                    report["sending"] = measure_sending(
                        args, database, server, make_dkim_key(workdir)
                    )
                    if not args.no_signup:
                        config = app_config(database.url, (server.host, server.port), None)
                        report["signup"] = signup_latency(
                            config,
                            args.signup_clients,
                            args.signup_requests,
                            args.signup_server_workers,
                        )
                        print(f"  signup: {report['signup']}", flush=True)
            if args.rss_check or not args.no_rss:
                report["rss"] = measure_rss(args, database)
        finally:
            database.drop()
    print_summary(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return report


def print_summary(report: dict) -> None:
    """The figures of the run, the way docs/PERFORMANCE.md quotes them."""
    print(f"\n== {report['command']}\n   {report['machine']}, database {report['database']}")
    for mode, figures in report.get("sending", {}).items():
        reps = len(figures["reps"])
        print(
            f"   {mode} (medians of {reps}, through {report['mta']}): smtplib baseline "
            f"{figures['baseline_rate']:,.0f} msg/s | wire baseline {figures['wire_rate']:,.0f} "
            "msg/s"
            + (
                f" | smtplib baseline, 1 connection {figures['baseline_rate_1']:,.0f} msg/s"
                if figures.get("baseline_rate_1")
                else ""
            )
        )
        if figures.get("signing_rate"):
            print(
                f"     signing only: one process {figures['signing_rate_1']:,.0f}/s, "
                f"{report['workers']} processes at once {figures['signing_rate']:,.0f}/s"
            )
        if "end_to_end_rate" in figures:
            print(
                f"     {report['workers']} workers: end-to-end {figures['end_to_end_rate']:,.0f} "
                f"msg/s | x{figures['ratio']:.2f} the smtplib baseline | "
                f"x{figures['wire_ratio']:.2f} the wire baseline | "
                + (
                    f"x{figures['signing_ratio_cores']:.2f} one signing process x "
                    f"{report['workers']}, x{figures['signing_ratio']:.2f} signing at once | "
                    if figures.get("signing_ratio")
                    else ""
                )
                + "queue "
                f"{figures['queue_seconds']:.1f} s | worker peak RSS "
                f"{figures['worker_rss_mb_max']} MB | every recipient once: "
                f"{figures['every_recipient_once']}"
            )
        for label, name in (("cli_1", "--processes 1"), ("cli", "default processes")):
            if label in figures:
                cli = figures[label]
                print(
                    f"     campaign send --wait, {name}: whole command {cli['rate']:,.0f} "
                    f"msg/s | sending phase {cli['send_rate']:,.0f} msg/s, "
                    f"x{cli['send_ratio']:.2f} the smtplib baseline "
                    f"({cli['baseline']}) | every recipient once: "
                    f"{cli['every_recipient_once']}"
                )
        if "cli_ratio" in figures:
            print(
                f"     campaign send --wait, default / one process: "
                f"x{figures['cli_ratio']:.2f} whole command, "
                f"x{figures['cli_send_ratio']:.2f} sending phase"
            )
    if "signup" in report:
        s = report["signup"]
        print(
            f"   signup: p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms, "
            f"{s['per_second']:.0f}/s, {s['requests']} requests, {s['errors']} errors"
        )
    for count, figures in report.get("rss", {}).items():
        print(
            f"   RSS at {int(count):,}: workers {figures['worker_rss_mb']} MB, queueing "
            f"{figures['queue_rss_mb']} MB; fill {figures['fill_seconds']:.1f} s, queue "
            f"{figures['queue_seconds']:.1f} s, send {figures['send_seconds']:.1f} s"
        )


if __name__ == "__main__":
    main()
