"""Browser fixtures: the system Chromium through Playwright, the app on a live server, and a
host page on another origin. Reusable by any browser test (`pytest -m browser`).

Chromium comes from Debian (`make test` installs it with apt); Playwright's own browser
download is never used.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Third-party cookies off, as Safari, Firefox and many Chrome users have them: the widget must
# not need them.
BLOCK_THIRD_PARTY_COOKIES = ["--test-third-party-cookie-phaseout"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            f"chromium is missing: {CHROMIUM} not found. Install it with "
            "`apt-get install chromium` (`make test` does), or set CHROMIUM=/path/to/chromium."
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    yield manager
    manager.stop()


# Answers a browser logs as "Failed to load resource" that are the product working as meant:
# htmx's inline validation (422) and refusals (409) come back as fragments to show.
EXPECTED_CONSOLE = ("the server responded with a status of 422", "responded with a status of 409")


class WatchedBrowser:
    """The browser, every context it opens reporting console errors (a CSP violation, a 404
    favicon, a script error) and uncaught page errors to `problems`."""

    def __init__(self, chromium: Any) -> None:
        self.chromium = chromium
        self.problems: list[str] = []
        # Origins of the stand-ins for other companies' services (the Stripe emulator's hosted
        # pages, the OpenID provider's login page): their pages are not the product's.
        self.foreign: tuple[str, ...] = ()

    def new_context(self, **options: Any) -> Any:
        context = self.chromium.new_context(**options)
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problems.append(f"page error: {error.error}"))
        return context

    def _console(self, message: Any) -> None:
        if message.type != "error" or any(s in message.text for s in EXPECTED_CONSOLE):
            return
        where = message.location.get("url") or ""
        page = getattr(message.page, "url", "") if getattr(message, "page", None) else ""
        if self.foreign and (page.startswith(self.foreign) or where.startswith(self.foreign)):
            return
        self.problems.append(f"{message.text} (on {where})")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.chromium, name)


@pytest.fixture(scope="session")
def browser(playwright: Any, chromium_path: Path) -> Iterator[WatchedBrowser]:
    """The system Chromium, headless, with third-party cookies blocked, its console watched."""
    chromium = playwright.chromium.launch(
        executable_path=str(chromium_path),
        headless=True,
        args=CHROMIUM_ARGS + BLOCK_THIRD_PARTY_COOKIES,
    )
    yield WatchedBrowser(chromium)
    chromium.close()


@pytest.fixture(autouse=True)
def no_console_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every browser test: no console error on any widget or dashboard page it visited."""
    if "browser" not in request.fixturenames:
        yield
        return
    watched: WatchedBrowser = request.getfixturevalue("browser")
    watched.problems.clear()
    watched.foreign = tuple(
        request.getfixturevalue(name).url
        for name in ("stripe_emulator", "oidc_provider")
        if name in request.fixturenames
    )
    yield
    assert watched.problems == [], "console errors:\n" + "\n".join(watched.problems)


@pytest.fixture
def browser_context(browser: Any) -> Iterator[Any]:
    """A fresh context (no cookies, no cache) for one test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


class Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


class AppServer:
    """The app under test on a real threaded HTTP server on 127.0.0.1."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> AppServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def app_server(app: Flask) -> Iterator[AppServer]:
    server = AppServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def host_page(app_server: AppServer) -> Iterator[Any]:
    """widget/demo.html on http://localhost:<port>: another origin (and site) than the app,
    with the script snippet pasted in (as most tradies' sites have it), or the iframe one."""
    from peepopay.widget.demo_host import DemoHost

    def serve(slug: str, snippet: str = "script") -> str:
        host = DemoHost(app_server.url, slug, snippet=snippet).start()  # type: ignore[arg-type]
        hosts.append(host)
        return f"http://localhost:{host.port}/"

    hosts: list[Any] = []
    yield serve
    for host in hosts:
        host.stop()
