"""The product as real processes, wired as `make run` wires them: Caddy in front of one or more
gunicorn app nodes, RQ workers, Redis, the Stripe emulator and an SQLite file or a PostgreSQL
database. Every request goes over TCP; processes can be stopped, killed and started again."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from peepopay import assets
from peepopay.config import ROOT
from tests.fixtures.clients import csrf_from
from tests.servers import RedisServer, SMTPSink, free_port, wait_for_port

BIN = Path(sys.executable).parent
FLASK = str(BIN / "flask")
SLUG = "demo-plumbing"


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
    source: str | None = None,
    timeout: float = 30,
) -> Reply:
    """One request to 127.0.0.1:`port`; `source` is another loopback address to come from
    (127.0.0.0/8 is all ours), so the app sees that many different clients."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def wait_until(condition: Callable[[], object], timeout: float = 40.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc (children first found, depth first)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    stack = list(children.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(children.get(child, []))
    return found


class WorkerProcess:
    """`flask --app peepopay worker` in its own process group."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [FLASK, "--app", "peepopay", "worker", "--sweep-interval", "0.5"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the worker and anything it started:
        no cleanup, no goodbye, as when the machine dies."""
        family = [self.process.pid, *descendants(self.process.pid)]
        for pid in reversed(family):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        """A normal shutdown (SIGTERM), then make sure nothing of it is left."""
        family = [self.process.pid, *descendants(self.process.pid)]
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for pid in family[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if not self.log.closed:
            self.log.close()


class Stack:
    """The processes, their ports and log files. `app_nodes` gunicorns share one database and
    one Redis behind Caddy's load balancer, as do `workers` RQ workers."""

    def __init__(
        self,
        tmp: Path,
        redis: RedisServer,
        smtp: SMTPSink,
        *,
        database_url: str | None = None,
        app_nodes: int = 1,
        workers: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp = tmp
        self.redis = redis
        self.smtp = smtp
        self.port = free_port()  # Caddy, the public entry
        self.app_ports = [free_port() for _ in range(app_nodes)]  # gunicorn
        self.app_port = self.app_ports[0]
        self.stripe_port = free_port()
        self.stripe_url = f"http://127.0.0.1:{self.stripe_port}"
        self.db_path = tmp / "peepopay.db"
        self.database_url = database_url or f"sqlite:///{self.db_path}"
        self.worker_count = workers
        self.caddyfile = ROOT / "Caddyfile"
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.workers: list[WorkerProcess] = []
        self.bookings_made = 0
        self._engine: sa.Engine | None = None
        self.env = {
            **os.environ,
            "PEEPOPAY_ENV": "development",
            "PEEPOPAY_INSTANCE": str(tmp / "instance"),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": redis.url,
            "RQ_QUEUE": f"stack-{self.port}",
            "SMTP_URL": smtp.url,
            "BASE_URL": f"http://127.0.0.1:{self.port}",
            "STRIPE_API_BASE": self.stripe_url,
            "STRIPE_WEBHOOK_SECRET": "whsec_topology_platform",
            "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_topology_connect",
            "LOGIN_LIMIT_PER_IP": "5 per minute",
            "LOGIN_LIMIT_PER_ACCOUNT": "100 per minute",
            # A message written while Redis is away is due for the worker's sweep 1 s later.
            "OUTBOX_SWEEP_GRACE_SECONDS": "1",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            **(env or {}),
        }
        for name in (
            "STRIPE_SECRET_KEY",
            "SENTRY_DSN",
            "METRICS_TOKEN",
            "PROMETHEUS_MULTIPROC_DIR",
            "MAILBOX_DIR",
            "TWILIO_ACCOUNT_SID",
        ):
            self.env.pop(name, None)

    @property
    def mailbox(self) -> Path:
        """The development mailbox: where SMS go without Twilio."""
        return self.tmp / "instance" / "mailbox"

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def start(self, name: str, args: list[str], extra: dict[str, str] | None = None) -> None:
        with self.log(name).open("ab") as out:
            process = subprocess.Popen(
                args,
                env={**self.env, **(extra or {})},
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append((name, process))

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything in its group (gunicorn's master and workers)."""
        for entry in list(self.processes):
            if entry[0] == name:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(entry[1].pid, signal.SIGKILL)
                entry[1].wait(10)
                self.processes.remove(entry)

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

    def web_name(self, node: int) -> str:
        return "web" if node == 0 else f"web{node + 1}"

    def up(self, prepare: Callable[[Stack], None] | None = None) -> None:
        """Start everything; `prepare` runs after the database is migrated and seeded, before
        any app node or worker starts."""
        # Stripe calls back the app node directly as under `make run`; through Caddy when
        # there are several nodes, as it would in production.
        hook_port = self.app_port if len(self.app_ports) == 1 else self.port
        self.start(
            "stripe",
            [
                sys.executable,
                "-m",
                "stripe_emulator",
                "--port",
                str(self.stripe_port),
                "--webhook-url",
                f"http://127.0.0.1:{hook_port}/webhooks/stripe",
                "--connect-webhook-url",
                f"http://127.0.0.1:{hook_port}/webhooks/stripe/connect",
                "--retry-base-seconds",
                "0.5",
            ],
        )
        wait_for_port(self.stripe_port)
        # As `make run` does; demo-connect gives the demo tradie an account on the emulator.
        self.run(["db", "upgrade"], ["seed-demo"], ["payments", "demo-connect"])
        if prepare:
            prepare(self)
        for node in range(len(self.app_ports)):
            self.start_web(node)
        for _ in range(self.worker_count):
            self.start_worker()
        public = self.tmp / "public"
        assets.build_public(public)
        for node in range(len(self.app_ports)):
            self.wait_web(node)
        self.start(
            "caddy",
            [
                str(BIN / "caddy"),
                "run",
                "--config",
                str(self.caddyfile),
                "--adapter",
                "caddyfile",
            ],
            {
                "SITE_ADDRESS": f":{self.port}",
                "CADDY_BIND": "127.0.0.1",
                "UPSTREAMS": " ".join(f"127.0.0.1:{port}" for port in self.app_ports),
                "PUBLIC_ROOT": str(public),
                "CADDY_ADMIN": "off",
                "CADDY_ACCESS_LOG": f"file {self.log('access')}",
                "XDG_DATA_HOME": str(self.tmp / "caddy-data"),
                "XDG_CONFIG_HOME": str(self.tmp / "caddy-config"),
            },
        )
        wait_for_port(self.port)
        self.wait(lambda: fetch(self.port, "/healthz").status == 200, "Caddy → gunicorn")

    def start_web(self, node: int) -> None:
        self.start(
            self.web_name(node),
            [
                str(BIN / "gunicorn"),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "-b",
                f"127.0.0.1:{self.app_ports[node]}",
                "wsgi:app",
            ],
            {
                "PROMETHEUS_MULTIPROC_DIR": str(self.tmp / f"metrics-{node}"),
                "WEB_CONCURRENCY": "2",
                "GUNICORN_THREADS": "4",
            },
        )

    def wait_web(self, node: int) -> None:
        # Caddy's first active health check must find gunicorn's workers booted.
        port = self.app_ports[node]
        wait_for_port(port, timeout=60)
        self.wait(lambda: fetch(port, "/healthz").status == 200, "gunicorn", timeout=60)

    def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.env, self.log(f"worker{len(self.workers) + 1}"))
        self.workers.append(worker)
        return worker

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
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.stop()
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _name, process in reversed(self.processes):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if self._engine is not None:
            self._engine.dispose()

    # --- the database, read from outside the app --------------------------------------------

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self.database_url, poolclass=sa.NullPool)
        return self._engine

    def rows(self, statement: str, **params: object) -> list[sa.Row[Any]]:
        with self.engine.begin() as conn:
            return list(conn.execute(sa.text(statement), params))

    def sql(self, statement: str, **params: object) -> int:
        """The first column of a SELECT's one row (0 when there is none)."""
        found = self.rows(statement, **params)
        return int(found[0][0]) if found else 0

    # --- helpers over HTTP through Caddy ---------------------------------------------------

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
        """Hold a free slot for a new customer each time (a customer's second unpaid hold is
        refused unless it presents the first one's token)."""
        service, start = self.free_slot()
        self.bookings_made += 1
        body = {
            "serviceId": service,
            "start": start,
            "customer": {
                "name": "Jane Customer",
                "email": f"jane.customer+{self.bookings_made}@example.com",
                "phone": f"021 555 {1000 + self.bookings_made:04d}",
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

    def stripe_control(self, path: str, body: Any = None, timeout: float = 30) -> Any:
        """The emulator's control API (`/_emulator/<path>`)."""
        reply = fetch(
            self.stripe_port,
            f"/_emulator/{path}",
            method="POST",
            headers={"Content-Type": "application/json"},
            body=json.dumps(body or {}).encode(),
            timeout=timeout,
        )
        assert reply.status < 400, reply.text()
        return reply.json()
