"""The background worker: an RQ worker with its scheduler, plus a sweep loop for the outbox."""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask
from rq import Queue, Worker
from rq.job import Job

from peepopay.clock import utcnow
from peepopay.extensions import db

log = logging.getLogger(__name__)


class AppWorker(Worker):
    """Each forked work horse opens its own database connections instead of sharing the parent's."""

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        db.engine.dispose(close=False)
        super().main_work_horse(job, queue)


def sweep_once(app: Flask) -> None:
    """Periodic duties that must survive a Redis outage: they read the database, not the queue."""
    from peepopay.notifications import outbox
    from peepopay.tasks import periodic_duties

    with app.app_context():
        try:
            now = utcnow()
            periodic_duties(db.session, now)
            outbox.sweep(db.session, now)
        except Exception:
            log.exception("sweep failed")
            db.session.rollback()
        finally:
            db.session.remove()


def sweep_forever(app: Flask, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        sweep_once(app)


def run(app: Flask, *, sweep_interval: float = 10.0, burst: bool = False) -> None:
    from peepopay.queue import get_queue, redis_conn

    queue = get_queue()
    if queue is None:
        raise SystemExit("REDIS_URL is not set: the worker needs Redis")
    stop = threading.Event()
    sweeper = threading.Thread(target=sweep_forever, args=(app, sweep_interval, stop), daemon=True)
    sweeper.start()
    sweep_once(app)
    try:
        while True:
            try:
                AppWorker([queue], connection=redis_conn()).work(with_scheduler=True, burst=burst)
                break
            except Exception:  # Redis went away: keep sweeping, try again shortly
                if burst:
                    raise
                log.exception("worker lost Redis; retrying in 2 s")
                time.sleep(2)
    finally:
        stop.set()
