"""Prometheus metrics the product records; /metrics (ops) exposes them.

Counters and histograms live here and are shared by every area. Under gunicorn they are kept in
`PROMETHEUS_MULTIPROC_DIR` (gunicorn.conf.py sets it up) so one scrape sums every worker. Numbers
that describe the whole system (outbox backlog, queue depth) are read from the database and
Redis at scrape time, not kept per process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

# prometheus-client reads PROMETHEUS_MULTIPROC_DIR when the first metric is made; a folder that
# does not exist would make this import fail.
if _multiproc_dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(_multiproc_dir, exist_ok=True)

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
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
        try:
            counts = outbox_counts()
            for status, count in counts.items():
                backlog.add_metric([status], count)
            oldest.add_metric([], outbox_oldest_seconds())
            yield backlog
            yield oldest
        except sa.exc.SQLAlchemyError as exc:
            log.warning("metrics: database unavailable: %s", exc)
            db.session.rollback()

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
    """Seconds since the oldest pending or sending outbox message was created (0 when none)."""
    import sqlalchemy as sa

    from peepopay.clock import utcnow
    from peepopay.extensions import db
    from peepopay.models import OutboxMessage, OutboxStatus

    created = db.session.scalar(
        sa.select(sa.func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
        )
    )
    if created is None:
        return 0.0
    if created.tzinfo is None:  # aggregate results skip the column type on SQLite
        from datetime import UTC

        created = created.replace(tzinfo=UTC)
    return max((utcnow() - created).total_seconds(), 0.0)


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
    return counters + generate_latest(system)
