"""Redis and the RQ queue. Jobs are only ever enqueued after the database commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError, WatchError
from rq import Queue, SimpleWorker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    url = app.config["REDIS_URL"]
    app.extensions["redis"] = (
        Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2) if url else None
    )


def worker_connection(app: Flask) -> Redis:
    """A pool of the worker's own for RQ's blocking reads. The app's pool keeps a 2-second
    socket timeout for requests; RQ lengthens a pool's timeout past its BLPOP only for sockets
    made afterwards, so one the first sweep had made timed out every read, and RQ waited up
    to a minute between retries while messages queued."""
    return Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=1)


CALENDAR_JOB_SECONDS = 60


def queue_name(app: Flask, calendars: bool = False) -> str:
    """Calendar syncs wait in a queue of their own, worked beside the messages (peepopay.worker):
    a slow or hostile feed never holds up anybody's email or SMS."""
    name = str(app.config["RQ_QUEUE"])
    return f"{name}-calendars" if calendars else name


def make_worker(
    app: Flask, calendars: bool = False, worker_class: type[SimpleWorker] = SimpleWorker
) -> SimpleWorker:
    """The RQ worker of `app`'s queue (or its calendar queue), on a connection of its own (see
    `worker_connection`)."""
    conn = worker_connection(app)
    queue = Queue(queue_name(app, calendars), connection=conn)
    return worker_class([queue], connection=conn)


def redis_conn() -> Redis | None:
    conn: Redis | None = current_app.extensions.get("redis")
    return conn


def get_queue(calendars: bool = False) -> Queue | None:
    conn = redis_conn()
    return Queue(queue_name(current_app, calendars), connection=conn) if conn else None


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


# A job in one of these states has run its course: a job with the same id may replace it. Any
# other state (queued, scheduled, deferred, started …) means it will still run, or is running.
_OVER = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


def enqueue_once(
    func: Callable[..., Any], *args: Any, job_id: str, calendars: bool = False
) -> Literal["enqueued", "waiting", "unavailable"]:
    """Enqueue a job under `job_id` unless one with that id still waits or runs: "enqueued",
    "waiting" (nothing added) or "unavailable" (Redis is away).

    RQ's `unique=True` checks and adds atomically; a job with that id that has run its course
    (finished, failed, stopped, cancelled) is deleted first, so a fixed id never blocks a new run.
    """
    queue = get_queue(calendars)
    if queue is None:
        return "unavailable"
    options: dict[str, Any] = {
        "job_id": job_id,
        "unique": True,
        "result_ttl": 600,
        "failure_ttl": 86400,
    }
    if calendars:  # a sync's fetch and parse have limits of their own; this backs them up
        options["job_timeout"] = CALENDAR_JOB_SECONDS
    try:
        for _ in range(2):  # once, and again after deleting a job that is over
            try:
                queue.enqueue(func, *args, **options)
                return "enqueued"
            except DuplicateJobError:
                if not _delete_if_over(queue, job_id):
                    return "waiting"
        return "waiting"  # another process put one there in between
    except RedisError as exc:
        log.warning("could not enqueue job %s: %s", job_id, exc)
        return "unavailable"


def _delete_if_over(queue: Queue, job_id: str) -> bool:
    """Delete job `job_id` if it has run its course (or its hash is unreadable); False when it
    still waits or runs, or changed while we looked (then whoever changed it owns it)."""
    conn = queue.connection
    key = Job.key_for(job_id)
    with conn.pipeline() as pipe:
        pipe.watch(key)
        try:
            job: Job | None = Job.fetch(job_id, connection=conn)
        except NoSuchJobError:  # expired meanwhile, or a hash RQ cannot read
            job = None
        if job is not None and job.get_status(refresh=False) not in _OVER:
            return False
        pipe.multi()
        if job is None:
            pipe.delete(key)
        else:
            job.delete(pipeline=pipe)  # its hash, result and registry entries
        try:
            pipe.execute()
        except WatchError:
            return False
    return True
