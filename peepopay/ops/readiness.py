"""What /readyz reports: the database and Redis answer; the outbox backlog and queue depth."""

from __future__ import annotations

import sqlalchemy as sa
from redis.exceptions import RedisError

from peepopay.db_setup import DbSession
from peepopay.ops import metrics
from peepopay.queue import get_queue, redis_conn

Checks = dict[str, dict[str, object]]


def checks(session: DbSession) -> Checks:
    """Each check by name, with `ok` and what it found (or the error's name)."""
    return {**database(session), **redis()}


def ready(found: Checks) -> bool:
    return all(bool(check["ok"]) for check in found.values())


def database(session: DbSession) -> Checks:
    try:
        session.execute(sa.text("SELECT 1"))
        counts = metrics.outbox_counts()
        return {
            "database": {"ok": True},
            "outbox": {
                "ok": True,
                "backlog": counts["pending"] + counts["sending"],
                "failed": counts["failed"],
                "oldest_seconds": round(metrics.outbox_oldest_seconds(), 1),
            },
        }
    except sa.exc.SQLAlchemyError as exc:
        session.rollback()
        return {"database": {"ok": False, "error": type(exc).__name__}}


def redis() -> Checks:
    conn = redis_conn()
    try:
        if conn is None:
            raise RedisError("REDIS_URL is not configured")
        conn.ping()
        queue = get_queue()
        return {"redis": {"ok": True}, "queue": {"ok": True, "depth": queue.count if queue else 0}}
    except RedisError as exc:
        return {"redis": {"ok": False, "error": str(exc) or type(exc).__name__}}
