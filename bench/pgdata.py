"""The platform at size on PostgreSQL: a throwaway cluster (started as the tests start theirs,
from /usr/lib/postgresql/15/bin) filled with COPY, never ORM inserts:

- 10,000 tradies, each with a service and weekly hours;
- 1,000,000 bookings, skewed like real life: one tradie with 100,000, 2,999 with 200 ("a few
  hundred") and 7,000 with about 43; each tradie's last bookings in the coming weeks;
- customers (one for every two bookings, bookings.customer_id), payments (a deposit on every
  booking, a balance on completed ones, some refunds), an audit row and an outbox row for every
  booking.

Indexes and constraints are dropped before the COPY and built again after it (the overlap
guarantee included, so the data is checked against it).

    python -m bench.pgdata [--keep]   # fills a cluster, prints the timings, stops it
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PASSWORD = "bench password 1234"  # noqa: S105
BIG_SLUG, TYPICAL_SLUG = "bench-big", "bench-typical"
BIG_EMAIL, TYPICAL_EMAIL = f"{BIG_SLUG}@bench.example", f"{TYPICAL_SLUG}@bench.example"
TRADIES = 10_000
BIG = 100_000
TYPICAL = 200
TYPICAL_COUNT = 2_999  # tradies 2 … 3,000
SMALL = 43  # the other 7,000 (tradies 3,001 … 10,000): 100k + 600k + 301k ≈ 1M
FUTURE_DAYS = 45  # each tradie's bookings reach this far ahead
CHUNK = 20_000  # rows per COPY write
RESULTS = Path(__file__).resolve().parent / "results" / "pgdata.json"
BIG_TABLES = ("bookings", "payments", "audit_log", "outbox_messages", "customers")


def bookings_of(tradie_id: int) -> int:
    if tradie_id == 1:
        return BIG
    if tradie_id <= 1 + TYPICAL_COUNT:
        return TYPICAL
    return SMALL


def per_day(tradie_id: int) -> int:
    """Jobs a day: the big tradie runs a crew (eight one-hour jobs a day, 34 years of them);
    the others one job every DAYS_APART days, so their history spans months to years."""
    return 8 if tradie_id == 1 else 1


DAYS_APART = 4


@dataclass
class Timings:
    schema_s: float = 0.0
    copy_s: float = 0.0
    index_s: float = 0.0
    analyze_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.schema_s + self.copy_s + self.index_s + self.analyze_s


class Stamps:
    """ISO timestamps for COPY's text format, formatted once per distinct hour."""

    def __init__(self, base: datetime) -> None:
        self.base = base  # midnight UTC today
        self.cache: dict[int, str] = {}

    def __call__(self, hours: int) -> str:
        text = self.cache.get(hours)
        if text is None:
            text = (self.base + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S+00")
            self.cache[hours] = text
        return text


def _lines(rows: Iterator[tuple[Any, ...]]) -> Iterator[str]:
    buffer = io.StringIO()
    n = 0
    for row in rows:
        buffer.write("\t".join(r"\N" if v is None else str(v) for v in row))
        buffer.write("\n")
        n += 1
        if n == CHUNK:
            yield buffer.getvalue()
            buffer = io.StringIO()
            n = 0
    if n:
        yield buffer.getvalue()


def _copy(
    cursor: Any, table: str, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]
) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for chunk in _lines(rows):
            copy.write(chunk)
            count += chunk.count("\n")
    return count


# --- rows -------------------------------------------------------------------------------------

TRADIE_COLUMNS = (
    "id email password_hash email_verified_at business_name slug timezone country currency "
    "brand_color stripe_account_id charges_enabled payouts_enabled details_submitted "
    "min_notice_minutes horizon_days buffer_minutes slot_interval_minutes hold_minutes "
    "cancellation_window_hours customer_cutoff_hours no_show_fee_minor allowed_origins "
    "notify_new_booking_email notify_new_booking_sms reminder_hours calendar_token "
    "session_token created_at updated_at"
).split()


def tradie_rows(password_hash: str, now: str) -> Iterator[tuple[Any, ...]]:
    for t in range(1, TRADIES + 1):
        slug = BIG_SLUG if t == 1 else TYPICAL_SLUG if t == 2 else f"tradie-{t}"
        yield (
            t,
            f"{slug}@bench.example",
            password_hash,
            now,
            f"Bench Trade {t}",
            slug,
            "Pacific/Auckland",
            "NZ",
            "NZD",
            "#1d4ed8",
            f"acct_bench{t:06d}",
            "t",
            "t",
            "t",
            120,
            60,
            30,
            30,
            15,
            48,
            0,
            0,
            "",
            "t",
            "t",
            24,
            f"cal-{t:06d}-bench",
            f"session-{t:06d}",
            now,
            now,
        )


SERVICE_COLUMNS = (
    "id tradie_id name description duration_minutes price_minor deposit_type deposit_value "
    "archived sort_order created_at updated_at"
).split()
RULE_COLUMNS = ("tradie_id", "weekday", "start_local", "end_local")


def service_rows(now: str) -> Iterator[tuple[Any, ...]]:
    for t in range(1, TRADIES + 1):
        yield (t, t, "Leak repair", "", 60, 20000, "fixed", 5000, "f", 0, now, now)


def rule_rows() -> Iterator[tuple[Any, ...]]:
    for t in range(1, TRADIES + 1):
        for weekday in range(7):
            yield (t, weekday, "07:00:00", "17:00:00")


CUSTOMER_COLUMNS = (
    "id tradie_id name email phone address notes created_at updated_at last_booked_at"
).split()
BOOKING_COLUMNS = (
    "id tradie_id service_id service_name duration_minutes price_minor deposit_minor currency "
    "customer_name customer_email customer_phone job_address customer_id notes starts_at "
    "ends_at status hold_expires_at public_token disputed final_amount_minor created_at "
    "updated_at confirmed_at cancelled_at completed_at reference"
).split()
PAYMENT_COLUMNS = (
    "id booking_id tradie_id kind amount_minor currency application_fee_minor "
    "stripe_payment_intent_id stripe_charge_id stripe_refund_id status method reason "
    "created_at updated_at"
).split()
AUDIT_COLUMNS = "tradie_id actor action entity_type entity_id summary created_at".split()
OUTBOX_COLUMNS = (
    "kind channel recipient payload idempotency_key status attempts next_attempt_at "
    "sent_at tradie_id booking_id created_at"
).split()


class History:
    """Every tradie's bookings and what hangs off them, generated in one pass per table."""

    def __init__(self, today: datetime) -> None:
        self.stamp = Stamps(today)

    def bookings(self) -> Iterator[tuple[int, int, int, int, str]]:
        """(booking id, tradie id, customer id, start hour offset from today, status)."""
        booking_id = 0
        customer_base = 0
        for t in range(1, TRADIES + 1):
            n = bookings_of(t)
            daily = per_day(t)
            future = min(n // 4, FUTURE_DAYS * daily // (1 if daily > 1 else 2))
            past = n - future
            customers = (n + 1) // 2
            for j in range(n):
                booking_id += 1
                apart = 1 if daily > 1 else DAYS_APART
                if j >= past:  # from tomorrow on
                    k = j - past
                    day = 1 + (k // daily) * (1 if daily > 1 else 2)
                else:  # up to yesterday
                    k = past - 1 - j
                    day = -1 - (k // daily) * apart
                hour = day * 24 + 19 + (k % daily)  # from 7 am in New Zealand
                if j >= past:
                    status = "pending_payment" if j % 50 == 0 else "confirmed"
                elif j % 20 == 7:
                    status = "cancelled"
                elif j % 50 == 11:
                    status = "no_show"
                elif j % 40 == 13:
                    status = "expired"
                else:
                    status = "completed"
                yield booking_id, t, customer_base + 1 + (j % customers), hour, status
            customer_base += customers

    def customer_rows(self) -> Iterator[tuple[Any, ...]]:
        last: dict[int, int] = {}
        for _bid, _t, cid, hour, _status in self.bookings():
            last[cid] = max(hour, last.get(cid, hour))
        created = self.stamp(-24 * 400)
        cid = 0
        for t in range(1, TRADIES + 1):
            for _ in range((bookings_of(t) + 1) // 2):
                cid += 1
                yield (
                    cid,
                    t,
                    f"Customer {cid:07d}",
                    f"customer{cid}@example.com",
                    f"+6421{cid:07d}",
                    f"{cid % 500} Queen Street, Auckland",
                    "",
                    created,
                    created,
                    self.stamp(last[cid]),
                )

    def booking_rows(self) -> Iterator[tuple[Any, ...]]:
        s = self.stamp
        for bid, t, cid, hour, status in self.bookings():
            start, end, made = s(hour), s(hour + 1), s(hour - 24 * 7)
            done = status in ("completed", "no_show")
            yield (
                bid,
                t,
                t,
                "Leak repair",
                60,
                20000,
                5000,
                "NZD",
                f"Customer {cid:07d}",
                f"customer{cid}@example.com",
                f"+6421{cid:07d}",
                f"{cid % 500} Queen Street, Auckland",
                cid,
                "",
                start,
                end,
                status,
                s(24)
                if status == "pending_payment"
                else s(hour - 24 * 7)
                if status == "expired"
                else None,
                f"tok{bid:09d}",
                "f",
                None,
                made,
                made,
                made if status not in ("pending_payment", "expired") else None,
                s(hour - 48) if status == "cancelled" else None,
                end if done else None,
                bid,  # the per-tradie reference: unique per tradie as the id is overall
            )

    def payment_rows(self) -> Iterator[tuple[Any, ...]]:
        s = self.stamp
        pid = 0
        for bid, t, _cid, hour, status in self.bookings():
            if status in ("expired",):
                continue
            made = s(hour - 24 * 7)
            pid += 1
            paid = status != "pending_payment"
            yield (
                pid,
                bid,
                t,
                "deposit",
                5000,
                "NZD",
                150,
                f"pi_{bid}",
                f"ch_{bid}" if paid else None,
                None,
                "succeeded" if paid else "pending",
                None,
                None,
                made,
                made,
            )
            if status == "completed":
                pid += 1
                yield (
                    pid,
                    bid,
                    t,
                    "balance",
                    15000,
                    "NZD",
                    450,
                    f"pi_b{bid}",
                    f"ch_b{bid}",
                    None,
                    "succeeded",
                    None,
                    None,
                    s(hour + 1),
                    s(hour + 1),
                )
            elif status == "cancelled":
                pid += 1
                yield (
                    pid,
                    bid,
                    t,
                    "refund",
                    5000,
                    "NZD",
                    0,
                    f"pi_{bid}",
                    None,
                    f"re_{bid}",
                    "succeeded",
                    None,
                    "requested_by_customer",
                    s(hour - 48),
                    s(hour - 48),
                )

    def audit_rows(self) -> Iterator[tuple[Any, ...]]:
        s = self.stamp
        for bid, t, _cid, hour, status in self.bookings():
            yield (
                t,
                "customer",
                "booking.created",
                "booking",
                bid,
                '{"status": "' + status + '"}',
                s(hour - 24 * 7),
            )

    def outbox_rows(self) -> Iterator[tuple[Any, ...]]:
        s = self.stamp
        for bid, t, cid, hour, _status in self.bookings():
            made = s(hour - 24 * 7)
            yield (
                "booking_confirmed",
                "email",
                f"customer{cid}@example.com",
                '{"booking_id": ' + str(bid) + "}",
                f"booking_confirmed:{bid}",
                "sent",
                1,
                made,
                made,
                t,
                bid,
                made,
            )


# --- the schema around the COPY -----------------------------------------------------------------


def _drop_indexes(cursor: Any) -> list[str]:
    """Drop the big tables' foreign keys, constraints (but primary keys) and indexes; the SQL
    that builds them again, in order."""
    tables = list(BIG_TABLES)
    constraints = cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype "
        "FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s) AND contype <> 'p' "
        "AND contype <> 'c'",
        (tables,),
    ).fetchall()
    indexes = cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (tables,),
    ).fetchall()
    rebuild = []
    for table, name, definition, _type in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
        rebuild.insert(0, definition)
    # Foreign keys last: their checks use the primary keys and indexes just built.
    rebuild.sort(key=lambda sql: "FOREIGN KEY" in sql)
    return rebuild


def fill(url: str, *, log: Any = print) -> Timings:
    """Migrate an empty database at `url` (SQLAlchemy URL) and fill it."""
    import psycopg

    from peepopay import create_app
    from peepopay.accounts.services import hasher
    from peepopay.config import DevelopmentConfig
    from peepopay.extensions import db

    timings = Timings()
    started = time.perf_counter()
    app = create_app(
        DevelopmentConfig,
        {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, "REDIS_URL": None},
    )
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    timings.schema_s = time.perf_counter() - started

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    now = today.strftime("%Y-%m-%d %H:%M:%S+00")
    history = History(today)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    counts: dict[str, int] = {}
    with psycopg.connect(dsn, autocommit=False) as conn, conn.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        rebuild = _drop_indexes(cursor)
        started = time.perf_counter()
        tables: list[tuple[str, list[str] | tuple[str, ...], Iterator[tuple[Any, ...]]]] = [
            ("tradies", TRADIE_COLUMNS, tradie_rows(hasher.hash(PASSWORD), now)),
            ("services", SERVICE_COLUMNS, service_rows(now)),
            ("availability_rules", RULE_COLUMNS, rule_rows()),
            ("customers", CUSTOMER_COLUMNS, history.customer_rows()),
            ("bookings", BOOKING_COLUMNS, history.booking_rows()),
            ("payments", PAYMENT_COLUMNS, history.payment_rows()),
            ("audit_log", AUDIT_COLUMNS, history.audit_rows()),
            ("outbox_messages", OUTBOX_COLUMNS, history.outbox_rows()),
        ]
        for table, columns, rows in tables:
            t0 = time.perf_counter()
            counts[table] = _copy(cursor, table, tuple(columns), rows)
            log(f"  {table:<20}{counts[table]:>11,} rows  {time.perf_counter() - t0:6.1f} s")
        for table in ("tradies", "services", "customers", "bookings", "payments"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        timings.copy_s = time.perf_counter() - started
        started = time.perf_counter()
        for sql in rebuild:
            cursor.execute(sql)
        conn.commit()
        timings.index_s = time.perf_counter() - started
        log(f"  indexes and constraints ({len(rebuild)}) {timings.index_s:6.1f} s")
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    timings.analyze_s = time.perf_counter() - started
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pgdata", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = parser.parse_args(argv)
    from tests.servers import PostgresServer

    server = PostgresServer().start()
    try:
        timings = fill(server.url)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
                    "seconds": asdict(timings) | {"total_s": round(timings.total_s, 1)},
                    "budget_s": 300,
                },
                indent=2,
            )
            + "\n"
        )
        print(
            f"filled in {timings.total_s:.1f} s (schema {timings.schema_s:.1f}, COPY "
            f"{timings.copy_s:.1f}, indexes {timings.index_s:.1f}, analyze "
            f"{timings.analyze_s:.1f}); budget 300 s: "
            f"{'ok' if timings.total_s <= 300 else 'OVER'}"
        )
        if args.keep:
            (server.dir / "url").write_text(server.url + "\n")
            (server.dir / "fill.json").write_text(json.dumps(asdict(timings)) + "\n")
            print(f"{server.url}: python -m bench.pages --cluster {server.dir}; SIGTERM stops it")
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            while True:
                time.sleep(3600)
    finally:
        server.stop()
    return 0 if timings.total_s <= 300 else 1


if __name__ == "__main__":
    sys.exit(main())
