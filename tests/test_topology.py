"""The production topology as real processes: Caddy → gunicorn, an RQ worker, Redis, the Stripe
emulator and an SQLite file database, as `make run` wires them. Every request goes over TCP."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from peepopay import assets
from peepopay.config import ROOT
from peepopay.security import DASHBOARD_CSP, widget_csp
from tests.conftest import csrf_from
from tests.servers import RedisServer, SMTPSink, free_port, wait_for_port

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
SLUG = "demo-plumbing"
DEMO_EMAIL = "demo@peepopay.local"
NEW_TRADIE = "outage.owner@example.com"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)

    def cookies(self) -> dict[str, str]:
        pairs = (c.split(";", 1)[0].split("=", 1) for c in self.headers.get_all("Set-Cookie") or [])
        return {name: value for name, value in pairs}


def fetch(
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


class Stack:
    """The processes, their ports and log files."""

    def __init__(self, tmp: Path, redis: RedisServer, smtp: SMTPSink) -> None:
        self.tmp = tmp
        self.redis = redis
        self.smtp = smtp
        self.port = free_port()  # Caddy, the public entry
        self.app_port = free_port()  # gunicorn
        self.stripe_port = free_port()
        self.db_path = tmp / "peepopay.db"
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.env = {
            **os.environ,
            "PEEPOPAY_ENV": "development",
            "PEEPOPAY_INSTANCE": str(tmp / "instance"),
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "REDIS_URL": redis.url,
            "RQ_QUEUE": f"topology-{self.port}",
            "SMTP_URL": smtp.url,
            "BASE_URL": f"http://127.0.0.1:{self.port}",
            "STRIPE_API_BASE": f"http://127.0.0.1:{self.stripe_port}",
            "STRIPE_WEBHOOK_SECRET": "whsec_topology_platform",
            "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_topology_connect",
            "LOGIN_LIMIT_PER_IP": "5 per minute",
            "LOGIN_LIMIT_PER_ACCOUNT": "100 per minute",
            # A message written while Redis is away is due for the worker's sweep 1 s later.
            "OUTBOX_SWEEP_GRACE_SECONDS": "1",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
        }
        for name in (
            "STRIPE_SECRET_KEY",
            "SENTRY_DSN",
            "METRICS_TOKEN",
            "PROMETHEUS_MULTIPROC_DIR",
        ):
            self.env.pop(name, None)

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def start(self, name: str, args: list[str], extra: dict[str, str] | None = None) -> None:
        with self.log(name).open("wb") as out:
            process = subprocess.Popen(
                args,
                env={**self.env, **(extra or {})},
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append((name, process))

    def run(self, *commands: list[str]) -> None:
        """`flask --app peepopay <command>` for each command, in one process (start-up is slow)."""
        script = (
            "import sys; from peepopay import create_app; runner = create_app().test_cli_runner()\n"
            "for args in sys.argv[1:]:\n"
            "    result = runner.invoke(args=args.split())\n"
            "    print(result.output, result.exception or '')\n"
            "    if result.exit_code: sys.exit(f'{args}: exit {result.exit_code}')\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, *(" ".join(c) for c in commands)],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def up(self) -> None:
        self.start(
            "stripe",
            [
                sys.executable,
                "-m",
                "peepopay.stripe_emulator",
                "--port",
                str(self.stripe_port),
                "--webhook-url",
                f"http://127.0.0.1:{self.app_port}/webhooks/stripe",
                "--connect-webhook-url",
                f"http://127.0.0.1:{self.app_port}/webhooks/stripe/connect",
            ],
        )
        wait_for_port(self.stripe_port)
        # As `make run` does; demo-connect gives the demo tradie an account on the emulator.
        self.run(["db", "upgrade"], ["seed-demo"], ["payments", "demo-connect"])
        self.start(
            "web",
            [
                str(BIN / "gunicorn"),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "-b",
                f"127.0.0.1:{self.app_port}",
                "wsgi:app",
            ],
            {
                "PROMETHEUS_MULTIPROC_DIR": str(self.tmp / "metrics"),
                "WEB_CONCURRENCY": "2",
                "GUNICORN_THREADS": "4",
            },
        )
        self.start(
            "worker", [str(BIN / "flask"), "--app", "peepopay", "worker", "--sweep-interval", "0.5"]
        )
        public = self.tmp / "public"
        assets.build_public(public)
        # Caddy's first active health check must find gunicorn's workers booted.
        wait_for_port(self.app_port)
        self.wait(lambda: fetch(self.app_port, "/healthz").status == 200, "gunicorn", timeout=60)
        self.start(
            "caddy",
            [
                str(BIN / "caddy"),
                "run",
                "--config",
                str(ROOT / "Caddyfile"),
                "--adapter",
                "caddyfile",
            ],
            {
                "SITE_ADDRESS": f":{self.port}",
                "CADDY_BIND": "127.0.0.1",
                "UPSTREAMS": f"127.0.0.1:{self.app_port}",
                "PUBLIC_ROOT": str(public),
                "CADDY_ADMIN": "off",
                "CADDY_ACCESS_LOG": f"file {self.log('access')}",
                "XDG_DATA_HOME": str(self.tmp / "caddy-data"),
                "XDG_CONFIG_HOME": str(self.tmp / "caddy-config"),
            },
        )
        wait_for_port(self.port)
        self.wait(lambda: fetch(self.port, "/healthz").status == 200, "Caddy → gunicorn")

    def wait(self, ready: Any, what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except OSError:
                pass
            for name, process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{self.log(name).read_text()[-3000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}")

    def down(self) -> None:
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for _name, process in reversed(self.processes):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(5)

    # --- helpers over HTTP through Caddy ---------------------------------------------------

    def sql(self, statement: str, *params: object) -> int:
        """Run one statement on the database file; the first column of a SELECT's one row."""
        conn = sqlite3.connect(self.db_path, timeout=10)
        try:
            with conn:
                row = conn.execute(statement, params).fetchone()
        finally:
            conn.close()
        return int(row[0]) if row else 0

    def get(self, path: str, **headers: str) -> Reply:
        return fetch(self.port, path, headers={k.replace("_", "-"): v for k, v in headers.items()})

    def app_log_lines(self) -> list[dict[str, Any]]:
        """gunicorn's output: the app's access lines (one JSON object per request)."""
        lines = []
        for line in self.log("web").read_text().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("logger") == "peepopay.access":
                    lines.append(entry)
        return lines

    def free_slot(self) -> tuple[int, str]:
        """A service id and the start of the first free slot in the next two weeks."""
        config = self.get(f"/api/widget/{SLUG}/config").json()
        service = config["services"][0]["id"]
        today = datetime.now(ZoneInfo(config["timezone"])).date()
        for offset in range(1, 15):
            day = (today + timedelta(days=offset)).isoformat()
            query = urlencode({"date": day, "serviceId": service})
            reply = self.get(f"/api/widget/{SLUG}/availability?{query}")
            assert reply.status == 200, reply.text()
            free = [slot for slot in reply.json()["slots"] if slot["available"]]
            if free:
                return service, free[0]["start"]
        raise AssertionError("no free slot in the next two weeks")

    def book(self) -> Reply:
        service, start = self.free_slot()
        body = {
            "serviceId": service,
            "start": start,
            "customer": {
                "name": "Jane Customer",
                "email": "jane.customer@example.com",
                "phone": "021 123 4567",
                "address": "1 Queen Street, Auckland",
            },
        }
        return fetch(
            self.port,
            f"/api/widget/{SLUG}/book",
            method="POST",
            headers={"Content-Type": "application/json"},
            body=json.dumps(body).encode(),
        )

    def form(self, path: str, fields: dict[str, str], **headers: str) -> Reply:
        """GET a dashboard form for its CSRF token and session cookie, then POST it."""
        page = self.get(path)
        assert page.status == 200, page.status
        cookie = "; ".join(f"{k}={v}" for k, v in page.cookies().items())
        data = urlencode({**fields, "csrf_token": csrf_from(page.text())}).encode()
        return fetch(
            self.port,
            path,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": cookie,
                **{k.replace("_", "-"): v for k, v in headers.items()},
            },
            body=data,
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, smtp: SMTPSink) -> Iterator[Stack]:
    redis = RedisServer().start()
    stack = Stack(tmp_path_factory.mktemp("topology"), redis, smtp)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        redis.stop()
        shutil.rmtree(redis.dir, ignore_errors=True)


def test_dashboard_pages_through_caddy(stack: Stack) -> None:
    reply = stack.get("/auth/login", Accept_Encoding="gzip", X_Request_Id="topology-req-0001")
    assert reply.status == 200
    assert reply.header("Content-Encoding") == "gzip"  # Caddy's `encode` for dynamic pages
    assert "Log in" in gzip.decompress(reply.body).decode()
    assert reply.header("Content-Security-Policy") == DASHBOARD_CSP
    assert "frame-ancestors 'none'" in DASHBOARD_CSP
    assert reply.header("X-Frame-Options") == "DENY"
    assert reply.header("X-Content-Type-Options") == "nosniff"
    assert reply.header("Server") is None
    # One request id end to end: the client's, echoed, in the app's log and Caddy's.
    assert reply.header("X-Request-Id") == "topology-req-0001"
    stack.wait(
        lambda: any(
            line.get("request_id") == "topology-req-0001" for line in stack.app_log_lines()
        ),
        "the app's access line",
    )
    [line] = [
        line for line in stack.app_log_lines() if line.get("request_id") == "topology-req-0001"
    ]
    assert line["path"] == "/auth/login" and line["status"] == 200
    access = stack.log("access").read_text()
    assert '"request_id":"topology-req-0001"' in access

    fresh = stack.get("/healthz")
    assert re.fullmatch(r"[0-9a-f-]{36}", fresh.header("X-Request-Id") or "")


def test_static_files_come_precompressed_with_cache_headers(stack: Stack) -> None:
    html = stack.get("/auth/login").text()
    css_url = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]+)"', html)
    assert css_url, html
    css = (ROOT / "static" / "css" / "app.css").read_bytes()

    reply = stack.get(css_url.group(1), Accept_Encoding="gzip")
    assert reply.status == 200
    assert reply.header("Content-Encoding") == "gzip"
    assert gzip.decompress(reply.body) == css
    assert reply.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert reply.header("Content-Security-Policy") == DASHBOARD_CSP
    assert reply.header("Vary") == "Accept-Encoding"

    if shutil.which("zstd"):
        reply = stack.get(css_url.group(1), Accept_Encoding="zstd, gzip")
        assert reply.header("Content-Encoding") == "zstd"
        unpacked = subprocess.run(
            ["zstd", "-d", "-c"], input=reply.body, capture_output=True, check=True
        ).stdout
        assert unpacked == css

    htmx = stack.get("/static/vendor/htmx-2.0.11.min.js", Accept_Encoding="gzip")
    assert htmx.header("Content-Encoding") == "gzip"
    assert htmx.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert len(htmx.body) < 20_000  # the widget's JavaScript budget is 20 KB gzipped

    plain = stack.get("/static/css/app.css")
    assert plain.body == css
    assert plain.header("Cache-Control") == "public, max-age=3600"


def test_widget_is_frameable_and_cookieless(stack: Stack) -> None:
    reply = stack.get(f"/book/{SLUG}", Accept_Encoding="gzip")
    assert reply.status == 200
    assert "Leaking tap" in gzip.decompress(reply.body).decode()
    assert reply.header("Set-Cookie") is None
    assert reply.header("X-Frame-Options") is None
    assert (reply.header("Content-Security-Policy") or "").endswith("frame-ancestors *")
    # The app itself sets no cookie either: Caddy's `-Set-Cookie` is only a second line.
    direct = fetch(stack.app_port, f"/book/{SLUG}")
    assert direct.status == 200 and direct.header("Set-Cookie") is None

    loader = stack.get("/embed.js", Accept_Encoding="gzip")
    assert loader.status == 200
    assert loader.header("Content-Encoding") == "gzip"
    assert gzip.decompress(loader.body) == (ROOT / "widget" / "embed.js").read_bytes()
    assert len(loader.body) <= 1536  # the loader budget: 1.5 KB gzipped
    assert loader.header("X-Frame-Options") is None
    assert loader.header("Cross-Origin-Resource-Policy") == "cross-origin"
    # Caddy serves it from disk with the same caching as the app's own route.
    assert loader.header("Cache-Control") == fetch(stack.app_port, "/embed.js").header(
        "Cache-Control"
    )
    assert loader.header("Accept-Ranges") == "bytes"  # Caddy's file_server, not the app


def test_caddy_headers_agree_with_the_app() -> None:
    adapted = subprocess.run(
        [
            str(BIN / "caddy"),
            "adapt",
            "--config",
            str(ROOT / "Caddyfile"),
            "--adapter",
            "caddyfile",
        ],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    policies = set(re.findall(r'"Content-Security-Policy":\["([^"]+)"\]', adapted))
    assert policies == {DASHBOARD_CSP, widget_csp("*")}


def test_x_forwarded_for_from_outside_is_not_trusted(stack: Stack) -> None:
    # Every attempt claims a different address, yet all count against the one real client
    # (127.0.0.1), and the app logs that address: Caddy replaced what the client sent.
    statuses = [
        stack.form(
            "/auth/login",
            {"email": f"nobody{n}@example.com", "password": "wrong"},
            X_Forwarded_For=f"198.51.100.{n}",
            X_Request_Id=f"spoofed-login-{n:04d}",
        ).status
        for n in range(6)
    ]
    assert statuses == [422] * 5 + [429]
    posts = [
        line
        for line in stack.app_log_lines()
        if str(line.get("request_id", "")).startswith("spoofed-login-") and line["method"] == "POST"
    ]
    assert len(posts) == 6
    assert {line["client"] for line in posts} == {"127.0.0.1"}


def test_metrics_show_a_booking_just_made(stack: Stack) -> None:
    def created() -> float:
        text = stack.get("/metrics").text()
        match = re.search(r"^peepopay_bookings_created_total (\S+)$", text, re.M)
        return float(match.group(1)) if match else 0.0

    before = created()
    reply = stack.book()
    assert reply.status == 201, reply.text()
    assert reply.json()["status"] == "pending_payment"
    assert created() == before + 1
    text = stack.get("/metrics").text()
    assert 'peepopay_request_seconds_count{endpoint="api.book",method="POST",status="201"}' in text
    assert "peepopay_queue_depth" in text and 'peepopay_outbox_backlog{status="pending"}' in text


def test_redis_outage(stack: Stack) -> None:
    """Redis stops: not ready, but the widget and bookings work and limits hold; it comes back
    and the messages written meanwhile are delivered."""
    stack.smtp.clear()
    stack.redis.stop()
    try:
        ready = stack.get("/readyz")
        assert ready.status == 503
        assert ready.json()["checks"]["redis"]["ok"] is False

        assert stack.get(f"/book/{SLUG}").status == 200
        booked = stack.book()
        assert booked.status == 201, booked.text()
        # A sign-up writes its confirmation email to the outbox; no job can carry it now.
        signup = stack.form(
            "/auth/signup",
            {
                "email": NEW_TRADIE,
                "password": "a long enough password",
                "business_name": "Outage Co",
            },
        )
        assert signup.status == 303, signup.text()
        waiting = "SELECT count(*) FROM outbox_messages WHERE recipient = ? AND status = 'pending'"
        assert stack.sql(waiting, NEW_TRADIE) == 1

        # Limits still apply, from each gunicorn worker's memory: 2 workers × 5 per minute.
        statuses = [
            stack.form(
                "/auth/login",
                {"email": f"outage{n}@example.com", "password": "wrong"},
                X_Forwarded_For=f"198.51.100.{n}",
            ).status
            for n in range(11)
        ]
        assert set(statuses) <= {422, 429}, statuses
        assert 429 in statuses
    finally:
        stack.redis.start()

    stack.wait(lambda: stack.get("/readyz").status == 200, "readyz after Redis returned")
    # The confirmation email was written while Redis was away, so no job carries it; the
    # worker's sweep hands it to RQ once Redis answers again.
    stack.wait(lambda: stack.smtp.to(NEW_TRADIE), "the confirmation email", timeout=30)
    stack.wait(
        lambda: (
            stack.sql("SELECT count(*) FROM outbox_messages WHERE status IN ('pending', 'sending')")
            == 0
        ),
        "every waiting message",
    )
