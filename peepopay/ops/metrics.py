"""Prometheus metrics the product records; /metrics (ops) exposes them, and the worker serves
its own on `WORKER_METRICS_PORT`. deploy/prometheus/alerts.yml alerts on them.

Counters and histograms live here and are shared by every area. Under gunicorn they are kept in
`PROMETHEUS_MULTIPROC_DIR` (gunicorn.conf.py sets it up) so one scrape sums every worker. Numbers
that describe the whole system (outbox backlog, queue depth, database and Redis up, calendar
feeds failing) are read from the database and Redis at scrape time, not kept per process.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIServer

from flask import Flask

# prometheus-client reads PROMETHEUS_MULTIPROC_DIR when the first metric is made; a folder that
# does not exist would make this import fail.
if _multiproc_dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(_multiproc_dir, exist_ok=True)

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

bookings_created = Counter("peepopay_bookings_created_total", "Bookings created (held)")
deposits = Counter("peepopay_deposits_total", "Deposit payments by outcome", ["outcome"])
webhook_events = Counter(
    "peepopay_webhook_events_total", "Stripe webhook events", ["type", "result"]
)
request_latency = Histogram(
    "peepopay_request_seconds", "Request latency", ["method", "endpoint", "status"]
)
webhook_delay = Histogram(
    "peepopay_webhook_delay_seconds",
    "From Stripe creating an event to our receiving it (retried deliveries arrive late)",
    buckets=(1, 5, 15, 60, 300, 900, 3600, 6 * 3600, 24 * 3600),
)
database_errors = Counter(
    "peepopay_database_errors",
    "Database connections that failed or were lost (not ordinary SQL errors)",
)
reconciled = Counter(
    "peepopay_reconcile_payments",
    "Deposits the reconciliation asked Stripe about, by what it did",
    ["outcome"],
)
ledger_differences = Counter(
    "peepopay_ledger_differences",
    "Deposits whose state at Stripe differed from ours (the reconciliation applied Stripe's)",
)
# Kept by the worker process (its own /metrics), never by gunicorn's.
worker_heartbeat = Gauge(
    "peepopay_worker_heartbeat_timestamp_seconds",
    "When the worker's sweep last ran (Unix time)",
    multiprocess_mode="max",
)
certificate_expiry = Gauge(
    "peepopay_tls_certificate_expiry_timestamp_seconds",
    "When the site's TLS certificate, as served by Caddy, expires (Unix time)",
    ["host"],
    multiprocess_mode="max",
)

log = logging.getLogger(__name__)


class SystemCollector(Collector):
    """Gauges computed at scrape time from the database and Redis (call inside an app context)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        import sqlalchemy as sa
        from redis.exceptions import RedisError

        from peepopay.extensions import db
        from peepopay.queue import get_queue

        backlog = GaugeMetricFamily(
            "peepopay_outbox_backlog", "Outbox messages not yet delivered", labels=["status"]
        )
        oldest = GaugeMetricFamily(
            "peepopay_outbox_oldest_seconds", "Age of the oldest undelivered outbox message"
        )
        database_up = GaugeMetricFamily("peepopay_database_up", "1 when the database answers")
        try:
            counts = outbox_counts()
            for status, count in counts.items():
                backlog.add_metric([status], count)
            oldest.add_metric([], outbox_oldest_seconds())
            feeds = calendar_feed_tradies()
            yield backlog
            yield oldest
            yield from feeds
            database_up.add_metric([], 1)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("metrics: database unavailable: %s", exc)
            db.session.rollback()
            database_up.add_metric([], 0)
        yield database_up

        up = GaugeMetricFamily("peepopay_redis_up", "1 when Redis answers")
        depth = GaugeMetricFamily(
            "peepopay_queue_depth", "Jobs waiting in the RQ queue", labels=["queue"]
        )
        queue = get_queue()
        try:
            if queue is None:
                raise RedisError("REDIS_URL is not configured")
            depth.add_metric([queue.name], queue.count)
            up.add_metric([], 1)
            yield depth
        except RedisError:
            up.add_metric([], 0)
        yield up
        # What /readyz answers: both must be up.
        ready = GaugeMetricFamily("peepopay_ready", "1 when /readyz would answer 200")
        ready.add_metric([], min(database_up.samples[0].value, up.samples[0].value))
        yield ready


class MemoryCollector(Collector):
    """Memory in use and the most this process's container (or machine) may use."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        usage = memory_usage()
        if usage is None:
            return
        used, limit = usage
        yield GaugeMetricFamily(
            "peepopay_memory_used_bytes",
            "Memory in use by the container (less page cache it can drop), or by the machine",
            value=used,
        )
        yield GaugeMetricFamily(
            "peepopay_memory_limit_bytes",
            "The container's memory limit, or the machine's memory when it has none",
            value=limit,
        )


def memory_usage(root: Path = Path("/")) -> tuple[float, float] | None:
    """(used, limit) in bytes: the cgroup v2 limit when the container has one (used less the
    page cache it can drop, as `docker stats` counts it), else the machine's memory less what
    it can still hand out (MemAvailable). None when neither can be read."""
    cgroup = root / "sys/fs/cgroup"
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            current = int((cgroup / "memory.current").read_text())
            stat = dict(line.split() for line in (cgroup / "memory.stat").read_text().splitlines())
            return float(current - int(stat.get("inactive_file", 0))), float(limit)
    except (OSError, ValueError):
        pass
    try:
        info = {
            key: int(value.split()[0]) * 1024
            for key, value in (
                line.split(":", 1) for line in (root / "proc/meminfo").read_text().splitlines()
            )
        }
        return float(info["MemTotal"] - info["MemAvailable"]), float(info["MemTotal"])
    except (OSError, ValueError, KeyError, IndexError):
        return None


FEED_FAILING_FOR = timedelta(days=1)


def calendar_feed_tradies() -> list[GaugeMetricFamily]:
    """Tradies with calendar feeds, and those with a feed failing for over a day: many at once
    means our side (the network, a parser change), not one tradie's address."""
    import sqlalchemy as sa

    from peepopay.calendars.models import CalendarFeed
    from peepopay.clock import utcnow
    from peepopay.extensions import db

    tradies = sa.func.count(sa.distinct(CalendarFeed.tradie_id))
    failing_since = utcnow() - FEED_FAILING_FOR
    total = db.session.scalar(sa.select(tradies)) or 0
    failing = (
        db.session.scalar(
            sa.select(tradies).where(
                CalendarFeed.failing_since.is_not(None),
                CalendarFeed.failing_since <= failing_since,
            )
        )
        or 0
    )
    return [
        GaugeMetricFamily(
            "peepopay_calendar_feed_tradies", "Tradies with a calendar feed", value=total
        ),
        GaugeMetricFamily(
            "peepopay_calendar_feeds_failing_tradies",
            "Tradies with a calendar feed failing for over a day",
            value=failing,
        ),
    ]


UNDELIVERED = ("pending", "sending", "failed")


def outbox_counts() -> dict[str, int]:
    """Undelivered outbox messages by status: waiting, being sent, given up on."""
    import sqlalchemy as sa

    from peepopay.extensions import db
    from peepopay.models import OutboxMessage

    rows = db.session.execute(
        sa.select(OutboxMessage.status, sa.func.count())
        .where(OutboxMessage.status.in_(UNDELIVERED))
        .group_by(OutboxMessage.status)
    ).all()
    found = {str(status): int(count) for status, count in rows}
    return {status: found.get(status, 0) for status in UNDELIVERED}


def outbox_oldest_seconds() -> float:
    """Seconds the longest-waiting undelivered outbox message has been due (0 when none).

    A message not tried yet is due at its `next_attempt_at` (a reminder's time, or just after it
    was written), so reminders waiting for their day are not late; one already tried waits
    since it was written."""
    import sqlalchemy as sa

    from peepopay.clock import utcnow
    from peepopay.extensions import db
    from peepopay.models import OutboxMessage, OutboxStatus

    now = utcnow()
    due_since = sa.case(
        (OutboxMessage.attempts == 0, OutboxMessage.next_attempt_at),
        else_=OutboxMessage.created_at,
    )
    since = db.session.scalar(
        sa.select(sa.func.min(due_since)).where(
            OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
            (OutboxMessage.attempts > 0) | (OutboxMessage.next_attempt_at <= now),
        )
    )
    if since is None:
        return 0.0
    if isinstance(since, str):  # SQLite hands an aggregate of a CASE back as text
        since = datetime.fromisoformat(since)
    if since.tzinfo is None:  # aggregate results skip the column type on SQLite
        from datetime import UTC

        since = since.replace(tzinfo=UTC)
    return max((now - since).total_seconds(), 0.0)


def observe_webhook_delay(event: dict[str, Any], now: datetime) -> None:
    """How late a Stripe event reached us (its `created` is a Unix time); none when absent."""
    created = event.get("created")
    if isinstance(created, int | float) and not isinstance(created, bool):
        webhook_delay.observe(max(now.timestamp() - created, 0.0))


def init_app(app: Flask) -> None:
    """Count every engine's lost and refused connections (the DatabaseConnectionErrors alert):
    listened for on the Engine class, once, as the app's engine is made only later."""
    import sqlalchemy as sa

    if not sa.event.contains(sa.engine.Engine, "handle_error", count_database_error):
        sa.event.listen(sa.engine.Engine, "handle_error", count_database_error)


def count_database_error(context: Any) -> None:
    """SQLAlchemy's handle_error hook: count a failed or lost connection, not a bad statement."""
    if getattr(context, "is_pre_ping", False):
        return
    if context.is_disconnect or context.connection is None:
        database_errors.inc()


# --- the site's certificate, checked by the worker ------------------------------------------

CERTIFICATE_CHECK_EVERY = timedelta(hours=1)
_last_certificate_check: datetime | None = None


def check_certificate(now: datetime, *, force: bool = False) -> bool:
    """Read the expiry of the certificate Caddy serves for BASE_URL's host (once an hour; call
    inside an app context). Connects to `TLS_CHECK_ADDRESS` (host:port, e.g. `caddy:443`) or
    the host itself; a plain-http BASE_URL has nothing to check. True when a value was read."""
    from flask import current_app

    global _last_certificate_check
    last = _last_certificate_check
    if not force and last is not None and timedelta(0) <= now - last < CERTIFICATE_CHECK_EVERY:
        return False
    _last_certificate_check = now
    base = urlsplit(current_app.config.get("BASE_URL") or "")
    if base.scheme != "https" or not base.hostname:
        return False
    address = current_app.config.get("TLS_CHECK_ADDRESS") or f"{base.hostname}:443"
    host, _, port = address.rpartition(":")
    try:
        expires = certificate_expires(host, int(port), base.hostname)
    except (OSError, ValueError) as exc:
        log.warning("certificate check of %s at %s failed: %s", base.hostname, address, exc)
        return False
    certificate_expiry.labels(host=base.hostname).set(expires.timestamp())
    return True


def certificate_expires(host: str, port: int, server_name: str) -> datetime:
    """The notAfter of the certificate served for `server_name`: read, not verified, so an
    expired or mis-issued one is still reported (the alert is about exactly those)."""
    from cryptography import x509

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as conn,
    ):
        der = conn.getpeercert(binary_form=True)
    if der is None:
        raise ValueError("no certificate")
    return x509.load_der_x509_certificate(der).not_valid_after_utc


# --- the worker's own endpoint --------------------------------------------------------------


def serve_worker_metrics(port: int, addr: str = "0.0.0.0") -> tuple[WSGIServer, threading.Thread]:
    """The worker's counters, heartbeat and memory on http://addr:port/metrics (a container's
    private network: compose publishes no port for it)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    memory = CollectorRegistry()
    memory.register(MemoryCollector())

    class Both(Collector):
        def collect(self) -> Iterator[Any]:
            yield from registry.collect()
            yield from memory.collect()

    served = CollectorRegistry()
    served.register(Both())
    return start_http_server(port, addr, served)


def exposition() -> bytes:
    """Everything in the Prometheus text format: every worker's counters plus the system gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        counters = generate_latest(registry)
    else:
        counters = generate_latest(REGISTRY)
    system = CollectorRegistry()
    system.register(SystemCollector())
    system.register(MemoryCollector())
    return counters + generate_latest(system)
