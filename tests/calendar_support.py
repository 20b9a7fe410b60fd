"""A real HTTP server serving calendar files for the calendar tests, the ICS they serve, and a
real CalDAV server (Radicale).

Each test sets what a path answers (status, body, headers, a delay) and can read back the
requests it got (the conditional headers among them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Answer:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Without a Content-Length the body runs until the connection closes (no size up front).
    declare_length: bool = True
    # Seconds between single bytes of the body: a server trickling its answer.
    trickle: float = 0.0


class FeedServer:
    """A threaded HTTP server on 127.0.0.1; `serve(path, ...)` sets a path's answer."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append((self.path, dict(self.headers.items())))
                answer = owner.answers.get(self.path, Answer(b"not here", 404))
                if answer.delay:
                    time.sleep(answer.delay)
                etag = answer.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if answer.declare_length:
                    self.send_header("Content-Length", str(len(answer.body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                try:
                    if answer.trickle:
                        for n in range(len(answer.body)):
                            self.wfile.write(answer.body[n : n + 1])
                            self.wfile.flush()
                            time.sleep(answer.trickle)
                        return
                    for start in range(0, len(answer.body), 1 << 16):
                        self.wfile.write(answer.body[start : start + (1 << 16)])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (the size limit): as expected

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes | str = b"", **options: Any) -> str:
        data = body.encode() if isinstance(body, str) else body
        headers = options.pop("headers", {"Content-Type": "text/calendar; charset=utf-8"})
        self.answers[path] = Answer(data, headers=headers, **options)
        return self.url + path

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="session")
def feed_server_session() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.stop()


@pytest.fixture
def feed_server(feed_server_session: FeedServer) -> FeedServer:
    feed_server_session.answers.clear()
    feed_server_session.requests.clear()
    return feed_server_session


def ics(*events: str, extra: str = "") -> str:
    """A VCALENDAR around `events` (each the lines inside one VEVENT), CRLF line ends."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//Feeds//EN"]
    if extra:
        lines += extra.strip().splitlines()
    for n, body in enumerate(events):
        lines += ["BEGIN:VEVENT", "DTSTAMP:20300101T000000Z"]
        if "UID:" not in body:
            lines.append(f"UID:event-{n}@example.com")
        lines += [line.strip() for line in body.strip().splitlines()]
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


# --------------------------------------------------------------------------- CalDAV


class RadicaleServer:
    """A real CalDAV server (Radicale, from PyPI) on a free loopback port, one user with an app
    password; it can be stopped and started again on the same port and storage (an outage)."""

    USER = "tradie"
    PASSWORD = "app-password-1234"

    def __init__(self, folder: Path) -> None:
        from tests.servers import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        users = folder / "users"
        users.write_text(f"{self.USER}:{self.PASSWORD}\n")
        self.config = folder / "radicale.conf"
        self.config.write_text(
            "\n".join(
                [
                    "[server]",
                    f"hosts = 127.0.0.1:{self.port}",
                    "[auth]",
                    "type = htpasswd",
                    f"htpasswd_filename = {users}",
                    "htpasswd_encryption = plain",
                    "delay = 0",
                    "[storage]",
                    f"filesystem_folder = {folder / 'collections'}",
                    "[rights]",
                    "type = owner_only",
                    "[logging]",
                    "level = warning",
                    "mask_passwords = True",
                    "",
                ]
            )
        )

    def start(self) -> RadicaleServer:
        from tests.servers import wait_for_port

        if shutil.which("radicale") is None and not _has_module("radicale"):
            raise RuntimeError("Radicale is not installed: pip install radicale (make install)")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def client(self) -> Any:
        import caldav

        return caldav.DAVClient(url=self.url, username=self.USER, password=self.PASSWORD)


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[RadicaleServer]:
    folder = tmp_path / "radicale"
    folder.mkdir()
    server = RadicaleServer(folder).start()
    yield server
    server.stop()
