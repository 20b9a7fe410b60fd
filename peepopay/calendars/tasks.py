"""The worker's side of calendars: every due feed gets one sync job (`calendar-<id>`).

The sweep loop (peepopay/worker.py) asks for due feeds from the database every few seconds, so
a Redis outage only delays syncs; a job still waiting or running is never doubled. The jobs
wait in the calendar queue, which the worker works beside the messages, never before them."""

from __future__ import annotations

from datetime import datetime

from peepopay.calendars import services
from peepopay.clock import utcnow
from peepopay.db_setup import DbSession
from peepopay.extensions import db


def job_id(feed_id: int) -> str:
    return f"calendar-{feed_id}"


def enqueue_due(session: DbSession, now: datetime) -> int:
    """A sync job for each due feed unless one waits or runs; returns how many were added."""
    from peepopay.queue import enqueue_once

    count = 0
    for feed_id in services.due_feed_ids(session, now):
        outcome = enqueue_once(sync_job, feed_id, job_id=job_id(feed_id), calendars=True)
        if outcome == "unavailable":
            break
        count += outcome == "enqueued"
    session.commit()
    return count


def sync_job(feed_id: int) -> str:
    """RQ entry point."""
    try:
        return services.sync_feed(db.session, feed_id, utcnow())
    finally:
        db.session.remove()
