"""Run `python demo/app.py` as a separate process for end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.conftest import PROJECT_ROOT
from tests.hub_double import find_free_port


@dataclass
class DemoServer:
    url: str
    output: str = ""  # the app's stdout and stderr, set once it has stopped


def _wait_until_serving(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"app exited: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


@contextmanager
def run_demo(*args: str, timeout: float = 120.0) -> Iterator[DemoServer]:
    """Start the demo on a free port with extra args; yield once it responds to HTTP."""
    port = find_free_port()
    process = subprocess.Popen(
        [sys.executable, "demo/app.py", "--port", str(port), "--device", "cpu", *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = DemoServer(f"http://127.0.0.1:{port}/")
    try:
        _wait_until_serving(server.url, process, timeout)
        yield server
    finally:
        process.terminate()
        server.output = process.communicate(timeout=30)[0]
