"""The acceptance suite's machinery: real processes, a real browser, nothing in-process.

Each test here runs the product the way people run it: `flask run`, `gunicorn`, `flask
worker`, `flask admin create`, `flask db upgrade`, `flask outbox …` as subprocesses,
configured only through `NEWSLETTER_*` environment variables and the instance folder, and
driven by Debian's Chromium through Playwright. No configuration is relaxed for a test:
CSRF, the security headers, the rate limits and the links are the product's own.

`Processes` starts each server in its own process group, logs its output to a file, waits
for it to answer, and kills the group at the end; when a test fails, every server's log
is attached to the failure report ("server logs" sections). Every wait is bounded.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.live import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30
CLI_SECONDS = 60
ADMIN_EMAIL = "owner@shop.example"
ADMIN_PASSWORD = "lente-in-gent-2025"  # flask admin create wants at least 12 characters

# What a reader checks to see that a message or page is in their language: words of the
# system footer (the reason line and the opt-out link) and of the subscriber pages.
LANGUAGE = {
    "en": {
        "browser": "en-GB",
        "accept": "en-GB,en;q=0.9",
        "reason": "You receive this email because",
        "unsubscribe": "Unsubscribe from all marketing",
        "subscribe": "Subscribe",
        "check_inbox": "Check your inbox",
        "confirm": "Confirm",
        "subscribed": "You are subscribed",
        "manage": "Manage your subscription",
        "save": "Save my choices",
        "saved": "Your choices are saved",
        "download": "Download my data",
        "mailed": "We have mailed you a link",  # "download my data" mails a link (issue 13)
        "data_mail": "Your data at",
    },
    "nl": {
        "browser": "nl-BE",
        "accept": "nl-BE,nl;q=0.9",
        "reason": "U ontvangt deze e-mail omdat",
        "unsubscribe": "Uitschrijven voor alle marketing",
        "subscribe": "Inschrijven",
        "check_inbox": "Kijk in uw mailbox",
        "confirm": "Bevestigen",
        "subscribed": "U bent ingeschreven",
        "manage": "Uw inschrijving beheren",
        "save": "Mijn keuzes bewaren",
        "saved": "Uw keuzes zijn bewaard",
        "download": "Mijn gegevens downloaden",
        "mailed": "We hebben u een link gemaild",  # "download my data" mails a link (issue 13)
        "data_mail": "Uw gegevens bij",
    },
    "fr": {
        "browser": "fr-BE",
        "accept": "fr-BE,fr;q=0.9",
        "reason": "Vous recevez cet e-mail parce que",
        "unsubscribe": "Se désinscrire de tout marketing",
        "subscribe": "S’inscrire",
        "check_inbox": "Consultez votre boîte de réception",
        "confirm": "Confirmer",
        "subscribed": "Vous êtes inscrit",
        "manage": "Gérer votre inscription",
        "save": "Enregistrer mes choix",
        "saved": "Vos choix sont enregistrés",
        "download": "Télécharger mes données",
        "mailed": "Nous vous avons envoyé un lien",  # "download my data" mails a link (issue 13)
        "data_mail": "Vos données chez",
    },
}

requires_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
    reason="Debian chromium is not installed (CI installs it)",
)


# --- processes ---------------------------------------------------------------------------


@dataclass
class Process:
    """One server or command in its own process group, its output in a log file."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    def log(self, tail: int = 12_000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-tail:]

    def report(self, tail: int = 15_000) -> str:
        """The log for a failure report, without the lines of Chromium's certificate probes
        (it opens side connections that it drops on the self-signed certificate: gunicorn
        logs each as an "Invalid request"), which would push the useful lines out."""
        lines = self.log(tail=1_000_000).splitlines()
        kept = [line for line in lines if "ALERT_CERTIFICATE_UNKNOWN" not in line]
        dropped = len(lines) - len(kept)
        note = f"({dropped} certificate-probe lines left out)\n" if dropped else ""
        return note + "\n".join(kept)[-tail:]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 10) -> None:
        """SIGTERM to the whole group (gunicorn's and Flask's children too), then SIGKILL."""
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with _suppress_lookup():
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)
        with _suppress_lookup():  # children left behind by a parent that exited first
            os.killpg(self.popen.pid, signal.SIGKILL)


class _suppress_lookup:
    def __enter__(self):
        return self

    def __exit__(self, kind, _value, _tb):
        return kind is ProcessLookupError or kind is PermissionError


@dataclass
class Processes:
    """The processes of one test; see the module docstring."""

    workdir: Path
    env: dict[str, str]
    logdir: Path
    started: list[Process] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # transcript of the CLI commands

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Process:
        log_path = self.logdir / f"{name}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                args,
                cwd=self.workdir,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )
        process = Process(name, popen, log_path)
        self.started.append(process)
        return process

    def run(self, args: list[str], stdin: str | None = None, timeout: float = CLI_SECONDS) -> str:
        """Run a command to its end (as a person types it); its stdout, or a failure."""
        shown = " ".join(args)
        try:
            done = subprocess.run(
                args,
                cwd=self.workdir,
                env=self.env,
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as exc:
            self.commands.append(f"$ {shown}\n(timed out after {timeout} s)\n{exc.stderr or ''}")
            raise AssertionError(f"`{shown}` did not finish within {timeout} s") from exc
        self.commands.append(f"$ {shown}\n(exit {done.returncode})\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise AssertionError(
                f"`{shown}` failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()

    def report(self) -> list[tuple[str, str]]:
        sections = [(f"server log: {p.name}", p.report()) for p in self.started]
        if self.commands:
            sections.append(("commands", "\n".join(c[-4000:] for c in self.commands)))
        return sections


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach every server's log and the command transcript to a failing test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        item._e2e_failed = True
    processes = getattr(item, "_e2e_processes", None)
    if processes is not None and report.failed:
        for title, text in processes.report():
            report.sections.append((title, text))


def clean_environment() -> dict[str, str]:
    """The inherited environment without any NEWSLETTER_* or FLASK_* setting.

    What is left is the machine's (PATH, HOME, locale); the tests add the product's
    configuration explicitly, so a value set by the CI or by the test runner itself
    (NEWSLETTER_TEST_DATABASE_URL) can never reach the application.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NEWSLETTER_", "FLASK_", "PYTEST_", "WERKZEUG_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def fresh_checkout(destination: Path) -> Path:
    """A copy of the application's files, as a person gets them from `git clone`.

    `create_app` builds `Flask(__name__, instance_relative_config=True)`: Flask puts the
    instance folder next to the package (`<checkout>/instance`), and there is no variable
    or option to move it. Running in a copy of the checkout is therefore the only way to
    start from a fresh instance folder without touching the developer's `instance/`,
    while the application still finds every default itself (SQLite file, generated
    secret key, outbox) — the default configuration, unchanged. Python imports the copy's
    `newsletter` package because the command's directory comes first on sys.path (Flask
    and gunicorn put it there), exactly as in a checkout installed with `pip install -e .`.
    """
    skipped = {
        ".git",
        "instance",
        "tests",
        "docs",
        "bench",
        "build",
        ".venv",
        "venv",
        "node_modules",
    }
    destination.mkdir(parents=True)
    for entry in REPO.iterdir():
        if entry.name in skipped or entry.name.startswith(".") or entry.name.endswith(".egg-info"):
            continue
        target = destination / entry.name
        if entry.is_dir():
            shutil.copytree(
                entry, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.db")
            )
        else:
            shutil.copy2(entry, target)
    return destination


@pytest.fixture
def processes(request, tmp_path):
    """Processes started in a fresh checkout (`processes.workdir`), stopped at the end."""
    logdir = tmp_path / "logs"
    logdir.mkdir()
    procs = Processes(
        workdir=fresh_checkout(tmp_path / "checkout"), env=clean_environment(), logdir=logdir
    )
    request.node._e2e_processes = procs
    yield procs
    procs.stop_all()


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until_serving(process: Process, url: str, timeout: float = STARTUP_SECONDS) -> None:
    """Poll `url` until it answers 200, the process dies, or `timeout` passes."""
    # The probe only asks "is it listening yet"; the browser checks the certificate's use.
    context = ssl._create_unverified_context() if url.startswith("https") else None
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not process.alive():
            raise AssertionError(
                f"{process.name} exited with {process.popen.returncode} before serving {url}:\n"
                f"{process.log()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=3, context=context) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (OSError, ssl.SSLError) as exc:
            last = str(exc)
        time.sleep(0.25)
    raise AssertionError(
        f"{process.name} did not serve {url} within {timeout} s ({last}):\n{process.log()}"
    )


def wait_for_log(process: Process, text: str, timeout: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in process.log(tail=100_000):
            return
        if not process.alive():
            break
        time.sleep(0.2)
    raise AssertionError(f"{process.name} never logged {text!r}:\n{process.log()}")


def flask_command() -> list[str]:
    """`flask`, as installed beside this Python (the console script README's commands use)."""
    script = Path(sys.executable).with_name("flask")
    return [str(script)] if script.exists() else [sys.executable, "-m", "flask"]


def gunicorn_command() -> list[str]:
    script = Path(sys.executable).with_name("gunicorn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]


# --- the browser -------------------------------------------------------------------------


@pytest.fixture
def browser(request, shots):
    """Debian's headless Chromium, driven by Playwright's sync API. When the test fails,
    every page still open is saved as failed-N.png: what the person saw at that moment."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield instance
            if getattr(request.node, "_e2e_failed", False):
                pages = [p for c in instance.contexts for p in c.pages]
                for number, page in enumerate(pages, 1):
                    page.screenshot(path=str(shots / f"failed-{number}.png"), full_page=True)
        finally:
            instance.close()


def browser_context(browser, language: str, **options):
    """A browser of someone whose language is `language` (Chromium's locale and headers)."""
    context = browser.new_context(
        locale=LANGUAGE[language]["browser"],
        extra_http_headers={"Accept-Language": LANGUAGE[language]["accept"]},
        viewport={"width": 1200, "height": 900},
        **options,
    )
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def shots(request, tmp_path):
    """Where screenshots go: $E2E_SCREENSHOTS/<test> (to look at them), else the test's tmp dir."""
    chosen = os.environ.get("E2E_SCREENSHOTS")
    folder = Path(chosen) / request.node.name if chosen else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def heading(page, text: str, step: str, timeout: float = 15_000) -> None:
    """Wait for a page whose main heading is `text`; else fail saying what the user sees."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator("h1", has_text=text).first.wait_for(timeout=timeout)
    except PlaywrightTimeout:
        raise AssertionError(f"{step}: expected a page titled {text!r}; {seen(page)}") from None


def seen(page) -> str:
    """What the person has in front of them: address, title and first paragraph."""
    try:
        title = page.locator("h1").first.inner_text(timeout=1000)
    except Exception:  # no heading at all
        title = "(no heading)"
    try:
        paragraph = page.locator("main p, body p").first.inner_text(timeout=1000)
    except Exception:
        paragraph = ""
    return f"the browser shows {title!r} {paragraph[:200]!r} at {page.url}"


# --- mail --------------------------------------------------------------------------------


def parse_mail(raw: bytes | str):
    if isinstance(raw, str):
        return email.message_from_string(raw, policy=email.policy.default)
    return email.message_from_bytes(raw, policy=email.policy.default)


def readable(message) -> str:
    """The text a person reads: the subject and every text part, decoded."""
    parts = [str(message["Subject"] or "")]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


def html_lang(message) -> str | None:
    body = message.get_body(preferencelist=("html",))
    if body is None:
        return None
    found = re.search(r"<html[^>]*\blang=\"?([A-Za-z-]+)", body.get_content())
    return found.group(1) if found else None


def links(text: str) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>]+", text)


def link_to(text: str, path_part: str) -> str:
    for url in links(text):
        if path_part in url:
            return url
    raise AssertionError(f"no {path_part} link in the mail:\n{text[:3000]}")
