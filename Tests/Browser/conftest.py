"""Fixtures of the dashboard's browser tests: a real `stepwise dev` (and `stepwise serve`) on a
SQLite file, a real worker process (StepwiseTestChild dashboard-worker) on the same file, and
Debian's chromium driven by Playwright through `executable_path` (no browser download).

The binaries come from STEPWISE_BIN (default: .build/debug). Under CI=true a missing chromium
or Playwright fails the run; elsewhere the tests are skipped with the reason.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("STEPWISE_BIN", ROOT / ".build" / "debug"))
# Where each test saves its screenshot: .build/dashboard-screenshots unless told otherwise;
# STEPWISE_SCREENSHOTS=Docs/Guides/Dashboard refreshes the guide's pictures.
SCREENSHOTS = Path(os.environ.get("STEPWISE_SCREENSHOTS", ROOT / ".build" / "dashboard-screenshots"))
IN_CI = os.environ.get("CI") == "true"


def unavailable(reason):
    if IN_CI:
        pytest.fail(f"browser tests cannot run under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


class Process:
    """A child process whose stdout is read line by line; stopped by its own pid."""

    def __init__(self, arguments, env=None):
        self.process = subprocess.Popen(
            arguments, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})})

    def wait_for(self, needle, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.process.args[0]} exited before printing {needle!r}")
            if needle in line:
                return line.strip()
        raise RuntimeError(f"{needle!r} not printed within {seconds} s")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Server:
    def __init__(self, url):
        self.url = url

    def post_event(self, event, key="any-key"):
        request = urllib.request.Request(
            f"{self.url}/e/{key}", data=json.dumps(event).encode(), headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["ids"][0]

    def get_json(self, path, headers=None):
        request = urllib.request.Request(f"{self.url}{path}", headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def wait_for_run(self, event_id, status=None, seconds=30):
        """The first run `event_id` triggered, once it has `status` (any, if None)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            runs = self.get_json(f"/v1/events/{event_id}/runs")["data"]
            if runs and (status is None or runs[0]["status"] == status):
                return runs[0]
            time.sleep(0.1)
        raise AssertionError(f"no run of event {event_id} reached {status} in {seconds} s")


def start_server(database, command, env=None):
    server = Process([str(BIN / "stepwise"), command, "--db", database, "--port", "0"], env=env)
    line = server.wait_for("listening on ")
    url = line.split("listening on ", 1)[1].split(" ", 1)[0]
    return server, url


@pytest.fixture(scope="session")
def workdir():
    directory = tempfile.mkdtemp(prefix="stepwise-browser-")
    yield Path(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def dev(workdir):
    if not (BIN / "stepwise").exists() or not (BIN / "StepwiseTestChild").exists():
        unavailable(f"build first: no stepwise or StepwiseTestChild in {BIN}")
    database = str(workdir / "dev.db")
    server, url = start_server(database, "dev")
    worker = Process([str(BIN / "StepwiseTestChild"), "dashboard-worker", database])
    try:
        worker.wait_for("ready")
        yield Server(url)
    finally:
        worker.stop()
        server.stop()


@pytest.fixture(scope="session")
def production(workdir):
    database = str(workdir / "prod.db")
    server, url = start_server(
        database, "serve", env={"STEPWISE_EVENT_KEYS": "event-key-1", "STEPWISE_SIGNING_KEY": "signing-key-1",
                                # stepwise serve stores user encrypted, and refuses to start without a key.
                                "STEPWISE_ENCRYPTION_KEYS": "test-key:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                                "INNGEST_EVENT_KEY": "", "INNGEST_SIGNING_KEY": "", "STEPWISE_POSTGRES_URL": ""})
    try:
        yield Server(url)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install playwright)")
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        unavailable("no chromium on PATH (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = request.node.name.removeprefix("test_")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
    context.close()
