"""Fixtures: real PostgreSQL, Redis and SMTP servers, an app per test on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from datetime import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from peepopay import create_app
from peepopay.config import TestingConfig
from peepopay.extensions import db
from tests.servers import PostgresServer, RedisServer, SMTPSink

USED: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if USED:
        terminalreporter.section("servers used")
        for name, how in USED.items():
            terminalreporter.write_line(f"{name}: {how}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | None]:
    if os.environ.get("REDIS_URL"):
        USED["redis"] = f"REDIS_URL={os.environ['REDIS_URL']}"
        yield None
        return
    server = RedisServer().start()
    USED["redis"] = f"throwaway redis-server on port {server.port}"
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer | None) -> str:
    return redis_server.url if redis_server else os.environ["REDIS_URL"]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    if url := os.environ.get("TEST_DATABASE_URL"):
        USED["postgresql"] = "TEST_DATABASE_URL"
        yield url
        return
    server = PostgresServer().start()
    USED["postgresql"] = f"throwaway cluster on port {server.port}"
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def smtp() -> Iterator[SMTPSink]:
    sink = SMTPSink().start()
    USED["smtp"] = f"aiosmtpd on port {sink.port}"
    yield sink
    sink.stop()


def migrate(app: Flask) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated from empty; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate(_app_for(f"sqlite:///{path}"))
    return path


def _app_for(url: str) -> Flask:
    return create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": url})


@pytest.fixture(scope="session")
def pg_migrated(pg_url: str) -> str:
    migrate(_app_for(pg_url))
    return pg_url


def truncate_all(app: Flask) -> None:
    with app.app_context():
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "test.db"
        shutil.copy(template, target)
        return f"sqlite:///{target}"
    return str(request.getfixturevalue("pg_migrated"))


@pytest.fixture
def app_config(db_url: str, redis_url: str, smtp: SMTPSink, tmp_path: Path) -> dict[str, Any]:
    """Overrides for the app under test; a test may change them before `app` is built."""
    return {
        "SQLALCHEMY_DATABASE_URI": db_url,
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url,
        "SMTP_URL": smtp.url,
        "MAILBOX_DIR": str(tmp_path / "mailbox"),
        "BASE_URL": "http://peepopay.test",
        "RQ_QUEUE": "peepopay-test",
    }


@pytest.fixture
def app(app_config: dict[str, Any], smtp: SMTPSink) -> Iterator[Flask]:
    import redis

    conn = redis.Redis.from_url(app_config["REDIS_URL"])
    conn.flushdb()
    conn.close()
    smtp.clear()
    app = create_app(TestingConfig, app_config)
    yield app
    if app_config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        truncate_all(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if app.extensions.get("redis"):
        app.extensions["redis"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Iterator[sa.orm.Session]:
    """The app's database session, inside an app context."""
    with app.app_context():
        yield db.session
        db.session.remove()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page carries no CSRF token"
    return match.group(1) or match.group(2)


def csrf_token(client: FlaskClient, url: str = "/auth/login") -> str:
    return csrf_from(client.get(url).get_data(as_text=True))


def make_tradie(app: Flask, **values: Any) -> Any:
    """A verified tradie with weekday hours 08:00–17:00 and one service; returns its id."""
    from peepopay.accounts import services as accounts
    from peepopay.clock import utcnow
    from peepopay.models import AvailabilityRule, DepositType, Service

    email = values.pop("email", "tradie@example.com")
    with app.app_context():
        tradie = accounts.create_tradie(
            db.session,
            email=email,
            password=values.pop("password", "correct horse battery"),
            business_name=values.pop("business_name", "Kiwi Plumbing"),
            slug=values.pop("slug", None),
            timezone=values.pop("timezone", "Pacific/Auckland"),
            verified_at=utcnow(),
        )
        for key, value in values.items():
            setattr(tradie, key, value)
        db.session.add(
            Service(
                tradie_id=tradie.id,
                name="Leak repair",
                duration_minutes=60,
                price_minor=20000,
                deposit_type=DepositType.FIXED,
                deposit_value=5000,
            )
        )
        for weekday in range(7):
            db.session.add(
                AvailabilityRule(
                    tradie_id=tradie.id, weekday=weekday, start_local=time(8), end_local=time(17)
                )
            )
        db.session.commit()
        return tradie.id


class Auth:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(
        self, email: str = "tradie@example.com", password: str = "correct horse battery"
    ) -> Any:
        token = csrf_token(self.client)
        return self.client.post(
            "/auth/login", data={"email": email, "password": password, "csrf_token": token}
        )

    def logout(self) -> Any:
        token = csrf_token(self.client, "/dashboard")
        return self.client.post("/auth/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)


@pytest.fixture
def tradie_id(app: Flask) -> int:
    return int(make_tradie(app))


@pytest.fixture
def signed_in(app: Flask, client: FlaskClient, auth: Auth, tradie_id: int) -> FlaskClient:
    response = auth.login()
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def deliver_outbox(app: Flask) -> list[str]:
    """Deliver every pending outbox message now, as the worker would."""
    from peepopay.clock import utcnow
    from peepopay.models import OutboxMessage, OutboxStatus
    from peepopay.notifications.outbox import deliver

    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboxMessage.id, OutboxMessage.payload).where(
                OutboxMessage.status == OutboxStatus.PENDING
            )
        ).all()
        # Not the scheduled ones (reminders): like the worker, they wait for their time.
        ids = [i for i, payload in rows if not (payload or {}).get("send_at")]
        results = [deliver(db.session, message_id, now=utcnow()) for message_id in ids]
        db.session.remove()
        return results


# --- dashboard (issue 4) -------------------------------------------------------------------------


class DashboardClient:
    """A signed-in client that adds the CSRF token to posts and can ask for htmx fragments."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self._token: str | None = None

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = csrf_token(self.client, "/dashboard")
        return self._token

    @staticmethod
    def _headers(htmx: bool) -> dict[str, str]:
        return {"HX-Request": "true"} if htmx else {}

    def get(self, url: str, htmx: bool = False, **kwargs: Any) -> Any:
        return self.client.get(url, headers=self._headers(htmx), **kwargs)

    def post(
        self, url: str, data: dict[str, Any] | None = None, htmx: bool = False, **kw: Any
    ) -> Any:
        return self.client.post(
            url, data={**(data or {}), "csrf_token": self.token}, headers=self._headers(htmx), **kw
        )


@pytest.fixture
def dash(signed_in: FlaskClient) -> DashboardClient:
    return DashboardClient(signed_in)


@pytest.fixture
def add_booking(app: Flask, tradie_id: int) -> Any:
    """Factory: a booking row for the signed-in tradie (or `tradie_id=`); returns its id."""
    from datetime import UTC, datetime, timedelta

    from peepopay.models import Booking

    counter = iter(range(1, 10_000))

    def make(**values: Any) -> int:
        n = next(counter)
        start = values.pop("starts_at", datetime(2030, 1, 7, 20, tzinfo=UTC) + timedelta(days=n))
        fields: dict[str, Any] = {
            "tradie_id": tradie_id,
            "service_name": "Leak repair",
            "duration_minutes": 60,
            "price_minor": 20000,
            "deposit_minor": 5000,
            "currency": "NZD",
            "customer_name": f"Customer {n}",
            "customer_email": f"customer{n}@example.com",
            "customer_phone": f"+6421000{n:04d}",
            "job_address": f"{n} Queen Street, Auckland",
            "starts_at": start,
            "ends_at": start + timedelta(minutes=values.get("duration_minutes", 60)),
            "status": "confirmed",
        }
        fields.update(values)
        with app.app_context():
            booking = Booking(**fields)
            db.session.add(booking)
            db.session.commit()
            return int(booking.id)

    return make


@pytest.fixture
def add_payment(app: Flask, tradie_id: int) -> Any:
    """Factory: a Payment row on a booking; returns its id."""
    from peepopay.models import Payment

    def make(booking_id: int, **values: Any) -> int:
        fields: dict[str, Any] = {
            "booking_id": booking_id,
            "tradie_id": tradie_id,
            "kind": "deposit",
            "amount_minor": 5000,
            "currency": "NZD",
            "status": "succeeded",
        }
        fields.update(values)
        with app.app_context():
            payment = Payment(**fields)
            db.session.add(payment)
            db.session.commit()
            return int(payment.id)

    return make


# --- payments (issue 5): the Stripe emulator and a live server for its webhooks -------------------


class LiveServer:
    """One HTTP server for the session that serves whichever app the current test set, so the
    Stripe emulator's webhooks reach the app under test."""

    def __init__(self) -> None:
        import threading

        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any) -> None:
                pass

        self.app: Flask | None = None
        self.server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=Quiet)
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        app = self.app
        if app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no app under test"]
        return app(environ, start_response)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stripe_emulator(live_server: LiveServer) -> Iterator[Any]:
    """The Stripe emulator for the session; webhooks go to the live server's current app."""
    from stripe_emulator.testing import running_emulator

    with running_emulator(
        webhook_url=f"{live_server.url}/webhooks/stripe",
        webhook_secret=TestingConfig.STRIPE_WEBHOOK_SECRET,
        connect_webhook_url=f"{live_server.url}/webhooks/stripe/connect",
        connect_webhook_secret=TestingConfig.STRIPE_CONNECT_WEBHOOK_SECRET,
        retry_base_seconds=0.2,
    ) as emulator:
        USED["stripe"] = f"emulator at {emulator.url}"
        yield emulator


def emulator_config(emulator: Any) -> dict[str, Any]:
    """app_config overrides that point the app's Stripe client at the emulator."""
    return {
        "STRIPE_API_BASE": emulator.url,
        "STRIPE_EMULATOR_PUBLIC_URL": emulator.url,
        "STRIPE_SECRET_KEY": "sk_test_peepopay_tests",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_peepopay_tests",
    }


@pytest.fixture
def stripe_live(app: Flask, live_server: LiveServer, stripe_emulator: Any) -> Iterator[Any]:
    """The emulator, reset, delivering webhooks to this test's app (needs `emulator_config`)."""
    assert app.config["STRIPE_API_BASE"] == stripe_emulator.url, "override app_config first"
    stripe_emulator.control("reset")
    stripe_emulator.control("config", {"deliver_times": 1, "shuffle": False, "hold_events": False})
    live_server.app = app
    yield stripe_emulator
    from stripe_emulator.testing import ControlError

    # A delivery still retrying after this is dropped by the reset.
    with contextlib.suppress(ControlError):
        stripe_emulator.control("flush", {"timeout": 5})
    stripe_emulator.control("reset")
    live_server.app = None


def _dash_now() -> Any:
    from datetime import UTC, datetime

    return datetime(2030, 1, 7, 20, 0, tzinfo=UTC)


# The dashboard's clock in tests: Tuesday 8 January 2030, 09:00 in Auckland (NZDT, UTC+13).
DASH_NOW = _dash_now()


class FrozenClock:
    """The app's clock in tests: `now` until moved; `set(moment)` moves it."""

    def __init__(self, now: Any) -> None:
        self.now = now

    def __call__(self) -> Any:
        return self.now

    def set(self, moment: Any) -> Any:
        self.now = moment
        return moment


@pytest.fixture
def frozen_clock(app: Flask) -> FrozenClock:
    """`clock.utcnow` frozen at DASH_NOW for everything in the app under test (routes, services,
    column defaults); the one place tests set "now"."""
    clock = FrozenClock(DASH_NOW)
    app.config["CLOCK"] = clock
    return clock


@pytest.fixture
def dash_now(frozen_clock: FrozenClock) -> Any:
    """The app's clock frozen at DASH_NOW; returns it."""
    return frozen_clock.now


@pytest.fixture
def other_dash(app: Flask) -> DashboardClient:
    """A second tradie, signed in on their own client."""
    make_tradie(app, email="other@example.com", business_name="Other Sparkies")
    client = app.test_client()
    response = Auth(client).login("other@example.com")
    assert response.status_code == 303
    return DashboardClient(client)


@pytest.fixture
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2 parameters for tests that sign in many tradies (never for the auth tests)."""
    from argon2 import PasswordHasher

    from peepopay.accounts import services as accounts

    monkeypatch.setattr(
        accounts, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
