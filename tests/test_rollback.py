"""Rolling back a release (docs/operations.md) rehearsed: the release before the newest migration,
taken from git, runs against a database migrated to the current head. Rollback never migrates
down, so every migration must leave the previous release working (expand, then contract)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
import sqlalchemy as sa

from peepopay.config import ROOT
from tests.fixtures.app import _app_for, migrate

# Run by the previous release's Python, with its own package and its own test factories (which
# build rows the way that release does): a tradie with a service, a booking, read back, and
# the tradie's public booking page (the availability queries) rendered.
REHEARSAL = """
import json, sys
import sqlalchemy as sa
import peepopay
from peepopay import create_app
from peepopay.config import TestingConfig
from peepopay.extensions import db
from tests.fixtures.factories import make_booking, make_service, make_tradie

url, redis_url, release_root = sys.argv[1:4]
assert peepopay.__file__.startswith(release_root), peepopay.__file__
app = create_app(TestingConfig, {
    "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url, "RATELIMIT_STORAGE_URI": redis_url,
    "BASE_URL": "http://peepopay.test", "RQ_QUEUE": "rollback-rehearsal",
})
tradie_id = make_tradie(app, email="rollback@example.com", slug="rollback-plumbing")
service_id = make_service(app, tradie_id, name="Hot water cylinder")
booking_id = make_booking(app, tradie_id, 1)
from peepopay.models import Booking, Service, Tradie
with app.app_context():
    tradie = db.session.get(Tradie, tradie_id)
    services = db.session.scalars(
        sa.select(Service.name).where(Service.tradie_id == tradie_id).order_by(Service.id)
    ).all()
    booking = db.session.scalars(sa.select(Booking).where(Booking.tradie_id == tradie_id)).one()
    found = {
        "package": peepopay.__file__,
        "tradie": tradie.slug,
        "services": list(services),
        "booking": [booking.id, booking.customer_name, str(booking.status)],
    }
page = app.test_client().get("/book/rollback-plumbing")
found["page"] = page.status_code
print(json.dumps(found))
"""


def git(*args: str) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=120
        )
    except FileNotFoundError:
        pytest.fail("the rollback rehearsal needs git, and git is not installed")
    if result.returncode != 0:
        pytest.fail(
            f"the rollback rehearsal needs the repository's git history (`git {' '.join(args)}`"
            f" failed: {result.stderr.strip()}); run it in a full clone, not an export"
        )
    return result.stdout.strip()


def previous_release() -> str:
    """The main line just before the newest migration arrived: what production ran before."""
    if git("rev-parse", "--is-shallow-repository") == "true":
        pytest.fail("the rollback rehearsal needs full git history: this clone is shallow")
    newest = git(  # the commit that added the newest migration (later edits are not releases)
        "log", "-1", "--first-parent", "--diff-filter=A", "--format=%H", "--", "migrations/versions"
    )
    if not newest:
        pytest.fail("no commit in git history touches migrations/versions")
    parents = git("rev-list", "--parents", "-n", "1", newest).split()[1:]
    if not parents:
        pytest.fail(f"{newest[:10]}, the newest migration's commit, has no parent release")
    return parents[0]


@pytest.fixture
def fresh_database(pg_url: str) -> Iterator[str]:
    """An empty database of its own on the test PostgreSQL server, dropped afterwards."""
    name = f"rollback_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_the_previous_release_runs_on_the_current_schema(
    fresh_database: str, redis_url: str, tmp_path: Path
) -> None:
    release = previous_release()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", release],
        capture_output=True,
        timeout=120,
        check=True,
    ).stdout
    release_root = tmp_path / "release"
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(release_root, filter="data")
    old_versions = {p.name for p in (release_root / "migrations" / "versions").glob("*.py")}
    new_versions = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert new_versions - old_versions, "the previous release should lack the newest migration"

    migrate(_app_for(fresh_database))  # the current code's migrations, to the head

    env = {**os.environ, "PYTHONPATH": str(release_root), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PEEPOPAY_ENV", None)
    result = subprocess.run(
        [sys.executable, "-c", REHEARSAL, fresh_database, redis_url, str(release_root)],
        cwd=release_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"release {release[:10]} fails on the current schema (write the migration "
        f"expand-then-contract, docs/operations.md):\n{result.stderr[-4000:]}"
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["package"].startswith(str(release_root))
    assert found["tradie"] == "rollback-plumbing"
    assert found["services"] == ["Leak repair", "Hot water cylinder"]
    assert found["booking"][1:] == ["Customer 1", "confirmed"]
    assert found["page"] == 200


def test_a_release_whose_schema_was_taken_away_fails_the_rehearsal(
    fresh_database: str, redis_url: str
) -> None:
    """The rehearsal bites: a contract step too early (a column the release reads is dropped)
    makes the same script fail."""
    migrate(_app_for(fresh_database))
    engine = sa.create_engine(fresh_database)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE services DROP COLUMN duration_minutes")
    engine.dispose()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", REHEARSAL, fresh_database, redis_url, str(ROOT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "duration_minutes" in result.stderr
