"""The outbox sweep keeps at most one RQ job per message, through Redis outages and lost jobs.

Each test has a Redis of its own, so stopping it disturbs nobody else. The sweep takes `now`:
an outage is simulated by moving the clock in 10 s steps, never by sleeping.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import OutboxMessage
from peepopay.notifications import outbox
from tests.servers import RedisServer

pytestmark = pytest.mark.both_databases


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, own_redis):
    app_config.update(REDIS_URL=own_redis.url, RATELIMIT_STORAGE_URI=own_redis.url)
    return app_config


def add_messages(app: Any, count: int, **values: Any) -> list[int]:
    """`count` outbox emails in one commit (the commit hands them to RQ); returns their ids."""
    with app.test_request_context():
        messages = [
            outbox.add(
                db.session,
                kind="test",
                channel="email",
                recipient=f"person{n}@example.com",
                payload={"subject": f"Message {n}", "text": f"Body {n}", "html": f"<p>{n}</p>"},
                key=f"test:sweep:{n}",
                **values,
            )
            for n in range(1, count + 1)
        ]
        db.session.commit()
        return [m.id for m in messages if m is not None]


def rq_queue(app: Any) -> Queue:
    return Queue(app.config["RQ_QUEUE"], connection=app.extensions["redis"])


def jobs_in_queue(app: Any) -> list[str]:
    """Every job id waiting in the queue or the scheduled registry, duplicates included."""
    queue = rq_queue(app)
    return queue.get_job_ids() + ScheduledJobRegistry(queue=queue).get_job_ids(cleanup=False)


def messages_of(app: Any, job_ids: list[str]) -> Counter[int]:
    """How many waiting jobs each message has."""
    conn = app.extensions["redis"]
    return Counter(job.args[0] for job in Job.fetch_many(job_ids, connection=conn) if job)


def due_for_sweep(app: Any) -> Any:
    """A moment at which every message written now is due for the sweep."""
    with app.app_context():
        return utcnow() + outbox.sweep_grace()


def sweep(app: Any, now: Any) -> int:
    with app.app_context():
        count = outbox.sweep(db.session, now)
        db.session.remove()
        return count


def run_worker(app: Any) -> None:
    with app.app_context():
        conn = app.extensions["redis"]
        SimpleWorker([rq_queue(app)], connection=conn).work(burst=True)
        db.session.remove()


def rows(app: Any) -> list[OutboxMessage]:
    with app.app_context():
        result = list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))
        db.session.remove()
        return result


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the queue is the subject here
def test_a_redis_outage_leaves_one_job_per_message_and_each_is_sent_once(app, own_redis, smtp):
    """400 messages, their jobs queued after the commit; the sweep runs every 10 s through a
    60 s outage (Redis restarts empty) and after it. The queue never holds more than one job
    per message, and a worker sends each message exactly once."""
    ids = add_messages(app, 400)
    assert len(ids) == 400
    assert len(jobs_in_queue(app)) == 400  # the fast path: one job each

    now = due_for_sweep(app)
    for step in range(3):  # Redis up, jobs waiting: the sweep adds nothing
        sweep(app, now + timedelta(seconds=10 * step))
    waiting = jobs_in_queue(app)
    assert len(waiting) == 400, f"{len(waiting)} jobs for 400 messages before the outage"

    own_redis.stop()  # ------------------------------------------------ 60 s without Redis
    outage_start = now + timedelta(seconds=30)
    for step in range(7):
        assert sweep(app, outage_start + timedelta(seconds=10 * step)) == 0

    own_redis.start()  # ---------------------------------------- back, empty (no persistence)
    back = outage_start + timedelta(seconds=70)
    handed = [sweep(app, back + timedelta(seconds=10 * step)) for step in range(5)]
    waiting = jobs_in_queue(app)
    per_message = messages_of(app, waiting)
    assert len(waiting) <= 400, f"{len(waiting)} jobs for 400 messages after the outage"
    assert set(per_message) == set(ids)  # no message lost its job for good
    assert set(per_message.values()) == {1}
    assert handed == [400, 0, 0, 0, 0]  # the first sweep after the outage, then nothing

    run_worker(app)
    assert rq_queue(app).count == 0
    sent = rows(app)
    assert {(r.status, r.attempts) for r in sent} == {("sent", 1)}
    received = Counter(str(mail["To"]) for mail in smtp.messages)
    assert received == Counter(f"person{n}@example.com" for n in range(1, 401))
    assert sweep(app, back + timedelta(minutes=5)) == 0
    assert jobs_in_queue(app) == []


def test_a_failed_job_is_replaced_and_a_queued_one_is_not(app, smtp, monkeypatch):
    """The job id is fixed per message and attempt, yet a job that ended without sending (here
    it raised) does not block the message: the sweep replaces it."""
    first, second = add_messages(app, 2)
    queue = rq_queue(app)

    def database_away(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("database away")

    monkeypatch.setattr(outbox, "deliver", database_away)
    with app.app_context():
        conn = app.extensions["redis"]
        # Only the first message's job runs, and fails; the second stays queued.
        SimpleWorker([queue], connection=conn).work(burst=True, max_jobs=1)
    monkeypatch.undo()
    failed = FailedJobRegistry(queue=queue)
    assert failed.get_job_ids() == [outbox.job_id(first)]
    assert queue.get_job_ids() == [outbox.job_id(second)]

    assert sweep(app, due_for_sweep(app)) == 1  # the first again, not the second
    assert sorted(queue.get_job_ids()) == sorted([outbox.job_id(first), outbox.job_id(second)])
    assert failed.get_job_ids() == []
    job = Job.fetch(outbox.job_id(first), connection=app.extensions["redis"])
    assert job.get_status() == JobStatus.QUEUED

    run_worker(app)
    assert [r.status for r in rows(app)] == ["sent", "sent"]
    assert len(smtp.to("person1@example.com")) == 1


def test_an_abandoned_claim_gets_a_job_for_the_next_attempt(app, smtp):
    """A worker died mid-send: its job still looks started and the lease has run out. The
    sweep queues a job for the next attempt; the message goes out once."""
    [message_id] = add_messages(app, 1)
    conn = app.extensions["redis"]
    now = utcnow()
    job = Job.fetch(outbox.job_id(message_id), connection=conn)
    rq_queue(app).remove(job)
    job.set_status(JobStatus.STARTED)  # what a SIGKILLed worker leaves behind
    with app.app_context():
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(status="sending", attempts=1, next_attempt_at=now)
        )
        db.session.commit()
        db.session.remove()

    assert sweep(app, now) == 1
    assert sweep(app, now + timedelta(seconds=10)) == 0
    assert jobs_in_queue(app) == [outbox.job_id(message_id, attempts=1)]
    run_worker(app)
    [row] = rows(app)
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(smtp.to("person1@example.com")) == 1


def test_a_scheduled_message_gets_its_one_job_from_the_sweep_when_due(app):
    """A reminder holds nothing in Redis while it waits; the first sweep at its due time gives
    it its job and the next sweeps add no second one."""
    now = utcnow()
    send_at = now + timedelta(hours=2)
    [message_id] = add_messages(app, 1, now=now, send_at=send_at)
    assert jobs_in_queue(app) == []
    assert sweep(app, send_at - timedelta(seconds=1)) == 0
    assert jobs_in_queue(app) == []
    assert sweep(app, send_at) == 1
    for step in range(1, 3):
        assert sweep(app, send_at + timedelta(seconds=10 * step)) == 0
    assert jobs_in_queue(app) == [outbox.job_id(message_id)]


def test_the_worker_waits_for_jobs_without_timing_out_after_the_first_sweep(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's first sweep uses the app's Redis (2-second socket timeout) before RQ starts
    listening; RQ's blocking read must not inherit that socket, or each read times out and RQ
    backs off for up to a minute while messages wait (seen after every restart)."""
    import time

    from peepopay.queue import make_worker, redis_conn

    with app.app_context():
        redis_conn().ping()  # what the first sweep does: a 2-second socket in the app's pool
        worker = make_worker(app)
        pool = worker.connection.connection_pool
        socket = pool.get_connection()
        pool.release(socket)
        assert socket.socket_timeout is None or socket.socket_timeout > worker.dequeue_timeout, (
            f"RQ's {worker.dequeue_timeout} s blocking read on a {socket.socket_timeout} s socket"
        )
        started = time.monotonic()
        assert worker.dequeue_job_and_maintain_ttl(timeout=3, max_idle_time=3) is None
        waited = time.monotonic() - started
    assert not [r for r in caplog.records if "could not connect to Redis" in r.getMessage()]
    assert waited < 6, f"an idle dequeue of 3 s took {waited:.1f} s"
