"""The metrics the alert rules (deploy/prometheus/alerts.yml) read: each is exported and moves
when the thing it reports happens."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.ops import metrics
from tests.fixtures.factories import make_tradie
from tests.servers import free_port


def sample(text: str, name: str) -> float | None:
    """The value of one unlabelled sample (`name value`) in an exposition, or None."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


# --- outbox age -----------------------------------------------------------------------------


@pytest.mark.both_databases
def test_a_reminder_waiting_for_its_time_is_not_an_old_outbox_message(app: Flask) -> None:
    """A reminder written a week ago for tomorrow is not late: the outbox alert would page
    every night if its age counted from when it was written."""
    from peepopay.notifications import outbox

    now = utcnow()
    with app.app_context():
        message = outbox.add(
            db.session,
            kind="reminder",
            channel="email",
            recipient="r@example.com",
            payload={"subject": "s", "text": "t", "html": "h"},
            key="alert-metrics-reminder",
            now=now - timedelta(days=7),
            send_at=now + timedelta(days=1),
        )
        assert message is not None
        message.created_at = now - timedelta(days=7)
        db.session.commit()
        assert metrics.outbox_oldest_seconds() == 0.0
        db.session.remove()


@pytest.mark.both_databases
def test_a_due_message_ages_from_when_it_was_due(app: Flask) -> None:
    from peepopay.notifications import outbox

    now = utcnow()
    with app.app_context():
        message = outbox.add(
            db.session,
            kind="reminder",
            channel="email",
            recipient="r@example.com",
            payload={"subject": "s", "text": "t", "html": "h"},
            key="alert-metrics-due",
            now=now - timedelta(days=7),
            send_at=now - timedelta(minutes=20),
        )
        assert message is not None
        message.created_at = now - timedelta(days=7)
        db.session.commit()
        assert 19 * 60 < metrics.outbox_oldest_seconds() < 21 * 60
        db.session.remove()


# --- database, readiness, memory ----------------------------------------------------------


def test_metrics_report_database_and_readiness(client: FlaskClient) -> None:
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "peepopay_database_up") == 1.0
    assert sample(text, "peepopay_ready") == 1.0
    used = sample(text, "peepopay_memory_used_bytes")
    limit = sample(text, "peepopay_memory_limit_bytes")
    assert used is not None and limit is not None and 0 < used < limit


@pytest.fixture
def dead_database(app_config: dict[str, Any]) -> Iterator[FlaskClient]:
    """The app pointed at a PostgreSQL port nothing listens on."""
    from peepopay import create_app
    from peepopay.config import TestingConfig

    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing?connect_timeout=2"
    broken = create_app(TestingConfig, {**app_config, "SQLALCHEMY_DATABASE_URI": url})
    yield broken.test_client()
    with broken.app_context():
        db.engine.dispose()
    broken.extensions["redis"].close()


def test_a_database_connection_error_is_counted(dead_database: FlaskClient) -> None:
    before = REGISTRY.get_sample_value("peepopay_database_errors_total") or 0.0
    text = dead_database.get("/metrics").get_data(as_text=True)
    assert sample(text, "peepopay_database_up") == 0.0
    assert sample(text, "peepopay_ready") == 0.0
    assert (REGISTRY.get_sample_value("peepopay_database_errors_total") or 0.0) >= before + 1
    assert dead_database.get("/readyz").status_code == 503


def test_an_ordinary_sql_error_is_not_a_connection_error(app: Flask) -> None:
    import sqlalchemy as sa

    before = REGISTRY.get_sample_value("peepopay_database_errors_total") or 0.0
    with app.app_context():
        with pytest.raises(sa.exc.ProgrammingError):
            db.session.execute(sa.text("SELECT * FROM no_such_table"))
        db.session.rollback()
        db.session.remove()
    assert (REGISTRY.get_sample_value("peepopay_database_errors_total") or 0.0) == before


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # A container with a 512 MiB limit: page cache that can be dropped is not counted.
        (
            {
                "sys/fs/cgroup/memory.max": "536870912\n",
                "sys/fs/cgroup/memory.current": "500000000\n",
                "sys/fs/cgroup/memory.stat": "anon 1\ninactive_file 100000000\nactive_file 5\n",
            },
            (400000000.0, 536870912.0),
        ),
        # No limit on the cgroup: the machine's memory, less what it can still hand out.
        (
            {
                "sys/fs/cgroup/memory.max": "max\n",
                "sys/fs/cgroup/memory.current": "1\n",
                "proc/meminfo": "MemTotal: 1000 kB\nMemFree: 10 kB\nMemAvailable: 250 kB\n",
            },
            (750 * 1024.0, 1000 * 1024.0),
        ),
        ({"proc/meminfo": "MemTotal: 2000 kB\nMemAvailable: 500 kB\n"}, (1536000.0, 2048000.0)),
        ({}, None),
    ],
)
def test_memory_usage(
    tmp_path: Path, files: dict[str, str], expected: tuple[float, float] | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert metrics.memory_usage(tmp_path) == expected


# --- webhooks, reconciliation, calendars ----------------------------------------------------


def test_webhook_delay_is_observed(app: Flask) -> None:
    before = REGISTRY.get_sample_value("peepopay_webhook_delay_seconds_count") or 0.0
    late = REGISTRY.get_sample_value("peepopay_webhook_delay_seconds_bucket", {"le": "60.0"})
    metrics.observe_webhook_delay({"created": int(utcnow().timestamp()) - 900}, utcnow())
    metrics.observe_webhook_delay({"created": "not a time"}, utcnow())  # ignored
    assert REGISTRY.get_sample_value("peepopay_webhook_delay_seconds_count") == before + 1
    # 15 minutes late: above the 60 s bucket.
    assert (
        REGISTRY.get_sample_value("peepopay_webhook_delay_seconds_bucket", {"le": "60.0"}) == late
    )


def test_calendar_feeds_failing_for_a_day_are_counted_per_tradie(
    app: Flask, client: FlaskClient
) -> None:
    from peepopay.calendars.models import CalendarFeed

    now = utcnow()
    ids = [make_tradie(app, email=f"t{n}@example.com", slug=f"feeds-{n}") for n in range(3)]
    with app.app_context():
        for n, tradie in enumerate(ids):
            failing = [now - timedelta(days=2), now - timedelta(hours=2), None][n]
            for name in ("Work", "Home"):
                db.session.add(
                    CalendarFeed(
                        tradie_id=tradie,
                        name=name,
                        url=f"https://calendar.example.com/{n}/{name}.ics",
                        failing_since=failing,
                        failures=0 if failing is None else 5,
                    )
                )
        db.session.commit()
        db.session.remove()
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "peepopay_calendar_feed_tradies") == 3.0
    assert sample(text, "peepopay_calendar_feeds_failing_tradies") == 1.0


def test_reconciliation_outcomes_are_counted(app: Flask) -> None:
    """What the reconciliation found that the webhooks had not told us is a difference."""
    from peepopay.bookings.payment_outcomes import count_reconciled

    labels = {"outcome": "confirmed"}
    before = REGISTRY.get_sample_value("peepopay_reconcile_payments_total", labels) or 0.0
    differences = REGISTRY.get_sample_value("peepopay_ledger_differences_total") or 0.0
    count_reconciled("confirmed")
    count_reconciled("unchanged")
    count_reconciled("stripe_error")
    assert REGISTRY.get_sample_value("peepopay_reconcile_payments_total", labels) == before + 1
    assert REGISTRY.get_sample_value("peepopay_ledger_differences_total") == differences + 1


# --- the worker: heartbeat, its own /metrics, the site's certificate ------------------------


def test_the_worker_sweep_beats_its_heartbeat(app: Flask) -> None:
    from peepopay import worker

    metrics.worker_heartbeat.set(0)
    worker.sweep_once(app)
    beat = REGISTRY.get_sample_value("peepopay_worker_heartbeat_timestamp_seconds")
    assert beat is not None and abs(beat - utcnow().timestamp()) < 60


def test_the_worker_serves_its_metrics(app: Flask) -> None:
    from urllib.request import urlopen

    port = free_port()
    server, thread = metrics.serve_worker_metrics(port, "127.0.0.1")
    try:
        metrics.worker_heartbeat.set(123.0)
        with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        assert sample(text, "peepopay_worker_heartbeat_timestamp_seconds") == 123.0
        assert sample(text, "peepopay_memory_limit_bytes")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _self_signed(tmp_path: Path, not_after: datetime) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "book.example.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - timedelta(days=90))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("book.example.com")]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, datetime]]:
    """A TLS server on loopback whose certificate ends in 10 days; it answers handshakes."""
    not_after = (utcnow() + timedelta(days=10)).replace(microsecond=0)
    cert, key = _self_signed(tmp_path, not_after)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], not_after
    stop.set()
    thread.join(5)
    listener.close()


def test_the_certificate_expiry_is_read_from_the_site(
    app: Flask, tls_server: tuple[int, datetime]
) -> None:
    port, not_after = tls_server
    app.config["TLS_CHECK_ADDRESS"] = f"127.0.0.1:{port}"
    app.config["BASE_URL"] = "https://book.example.com"
    with app.app_context():
        assert metrics.check_certificate(utcnow(), force=True)
    value = REGISTRY.get_sample_value(
        "peepopay_tls_certificate_expiry_timestamp_seconds", {"host": "book.example.com"}
    )
    assert value == not_after.replace(tzinfo=dt.UTC).timestamp()


def test_no_certificate_check_for_a_plain_http_site(app: Flask) -> None:
    app.config["TLS_CHECK_ADDRESS"] = None
    app.config["BASE_URL"] = "http://127.0.0.1:8080"
    with app.app_context():
        assert metrics.check_certificate(datetime.now(UTC), force=True) is False
