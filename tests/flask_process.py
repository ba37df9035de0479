"""Run the real `flask` command in a subprocess, as people run it, and clean up after it.

Each process gets its own session (process group), so that `flask run --debug`'s
reloader child is stopped with its parent; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 45.0


def clean_env(**settings: str) -> dict[str, str]:
    """The environment of a fresh shell in the repository: no NEWSLETTER_*, FLASK_* or
    WERKZEUG_* variable of the test run leaks in; `settings` are added as given."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("NEWSLETTER_", "FLASK_", "WERKZEUG_"))
    }
    return {**env, "FLASK_APP": "app.py", "PYTHONUNBUFFERED": "1", **settings}


@contextlib.contextmanager
def flask(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`flask ARGS...` from the repository root, output to `log`; stopped on exit."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
    """Signal the process's group (it and its children), wait; SIGKILL if it hangs."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    # The reloader's child may outlive a parent killed first: end the group for good.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


def wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    """Poll `url` until it answers 200; fail with the log when the process ends first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"flask exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {START_TIMEOUT:.0f} s:\n{log.read_text()}")


def wait_for(condition, timeout: float, what: str, log: Path | None = None) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds, saying what."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            detail = f"\n--- log ---\n{log.read_text()}" if log else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(0.2)
