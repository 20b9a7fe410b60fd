"""The background worker: an RQ worker for messages, a sweep loop that gives the outbox's due
messages (reminders among them, which wait in the database until due) their jobs, and a thread
working the calendar queue, so calendar syncs never wait ahead of a message."""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask
from rq import SimpleWorker
from rq.timeouts import TimerDeathPenalty

from peepopay.clock import utcnow
from peepopay.extensions import db

log = logging.getLogger(__name__)


def sweep_once(app: Flask) -> None:
    """Periodic duties that must survive a Redis outage: they read the database, not the queue."""
    from peepopay.notifications import outbox
    from peepopay.ops import metrics
    from peepopay.tasks import periodic_duties

    with app.app_context():
        try:
            now = utcnow()
            # The sweep is alive whatever its duties find: the WorkerHeartbeatMissing alert.
            metrics.worker_heartbeat.set(now.timestamp())
            periodic_duties(db.session, now)
            outbox.sweep(db.session, now)
            metrics.check_certificate(now)
        except Exception:
            log.exception("sweep failed")
            db.session.rollback()
        finally:
            db.session.remove()


def sweep_forever(app: Flask, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        sweep_once(app)


class CalendarWorker(SimpleWorker):
    """Works the calendar queue in a thread beside the messages: a feed that is slow to fetch
    or to read delays other feeds at most, never a message. The main thread owns the process's
    signals, and a job's timeout is a timer here (SIGALRM reaches the main thread only)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


def work_calendars(app: Flask, stop: threading.Event, burst: bool = False) -> None:
    from peepopay.queue import make_worker

    while not stop.is_set():
        try:
            with app.app_context():
                make_worker(app, calendars=True, worker_class=CalendarWorker).work(burst=burst)
            return
        except Exception:  # Redis went away: try again shortly
            if burst:
                raise
            log.exception("calendar worker lost Redis; retrying in 2 s")
            stop.wait(2)


def run(app: Flask, *, sweep_interval: float = 10.0, burst: bool = False) -> None:
    from peepopay.queue import make_worker

    if not app.config["REDIS_URL"]:
        raise SystemExit("REDIS_URL is not set: the worker needs Redis")
    stop = threading.Event()
    sweeper = threading.Thread(target=sweep_forever, args=(app, sweep_interval, stop), daemon=True)
    sweeper.start()
    sweep_once(app)
    if burst:
        work_calendars(app, stop, burst=True)
    else:
        threading.Thread(target=work_calendars, args=(app, stop), daemon=True).start()
    try:
        while True:
            try:
                # Jobs run in this process, not in a work horse forked for each: forking cost
                # about 0.2 s a message, six times the send itself. A job is a short send under
                # RQ's timeout, and one that dies with the worker is taken again by the sweep
                # once its lease runs out (the outbox's claim), so nothing is lost or doubled.
                make_worker(app).work(burst=burst)
                break
            except Exception:  # Redis went away: keep sweeping, try again shortly
                if burst:
                    raise
                log.exception("worker lost Redis; retrying in 2 s")
                time.sleep(2)
    finally:
        stop.set()
