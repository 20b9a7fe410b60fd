"""Redis and the RQ queue. Jobs are only ever enqueued after the database commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    url = app.config["REDIS_URL"]
    app.extensions["redis"] = (
        Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2) if url else None
    )


def redis_conn() -> Redis | None:
    conn: Redis | None = current_app.extensions.get("redis")
    return conn


def get_queue() -> Queue | None:
    conn = redis_conn()
    return Queue(current_app.config["RQ_QUEUE"], connection=conn) if conn else None


def try_enqueue(func: Callable[..., Any], *args: Any, job_id: str | None = None) -> bool:
    """Enqueue a job; when Redis is away, say so and return False (the outbox sweep catches up)."""
    queue = get_queue()
    if queue is None:
        return False
    try:
        queue.enqueue(func, *args, job_id=job_id, result_ttl=600, failure_ttl=86400)
    except RedisError as exc:
        log.warning("could not enqueue %s: %s", getattr(func, "__name__", func), exc)
        return False
    return True
