"""App-wide behaviour: configuration, headers, health, error pages, migrations."""

from __future__ import annotations

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from peepopay import create_app
from peepopay.config import ConfigError, ProductionConfig
from peepopay.extensions import db

PRODUCTION_ENV = {
    "SECRET_KEY": "s3cret",
    "DATABASE_URL": "sqlite://",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "BASE_URL": "https://book.example",
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_a",
    "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_b",
}


@pytest.mark.parametrize("missing", sorted(PRODUCTION_ENV))
def test_production_refuses_to_start_without_secrets(monkeypatch, missing):
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigError) as error:
        create_app(ProductionConfig)
    assert missing in str(error.value)


def test_production_names_every_missing_variable(monkeypatch):
    for name in PRODUCTION_ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as error:
        ProductionConfig.check()
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "BASE_URL", "STRIPE_SECRET_KEY"):
        assert name in str(error.value)


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_names_checks(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    checks = response.get_json()["checks"]
    assert checks["database"]["ok"] and checks["redis"]["ok"]


def test_readyz_503_when_redis_is_down(app, client):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    from peepopay import queue

    queue.init_app(app)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_dashboard_cannot_be_framed(signed_in):
    response = signed_in.get("/dashboard")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert response.headers["X-Frame-Options"] == "DENY"
    assert (
        "frame-ancestors 'none'" in signed_in.get("/auth/login").headers["Content-Security-Policy"]
    )


def test_session_cookie_flags(client, auth, tradie_id):
    response = auth.login()
    cookie = next(
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Host-session=")
    )
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path=/", "samesite=lax"} <= flags
    assert not any(flag.startswith("domain=") for flag in flags)


@pytest.mark.parametrize("htmx", [False, True])
def test_404_page_and_fragment(client, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get("/no/such/page", headers=headers)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "We could not find that page." in html
    assert ("<html" in html) is (not htmx)
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.both_databases
def test_models_and_migrations_agree(app, db_url):
    """Alembic's autogenerate finds no difference between the models and the migrated schema."""
    with app.app_context(), db.engine.connect() as conn, warnings.catch_warnings():
        # SQLite's reflection skips expression indexes (lower(customer_email)); PostgreSQL's
        # compares them.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    if db_url.startswith("sqlite"):
        # SQLite's reflection reads a foreign key declared on ADD COLUMN (bookings.customer_id,
        # migration 0008: a batch rebuild of bookings would cascade) without its name and ON
        # DELETE; tests/test_customers.py checks that ON DELETE SET NULL holds there.
        diff = [d for d in diff if not _is_customer_fk(d)]
    # The bookings search's trigram indexes exist on PostgreSQL only, outside the models.
    diff = [d for d in diff if not _is_search_index(d)]
    assert diff == []


def _is_search_index(change: tuple[object, ...]) -> bool:
    from peepopay.bookings.models import SEARCH_INDEXES

    return change[0] == "remove_index" and getattr(change[1], "name", None) in SEARCH_INDEXES


def _is_customer_fk(change: tuple[object, ...]) -> bool:
    constraint = change[1]
    columns = [c.name for c in getattr(constraint, "columns", [])]
    return change[0] in ("add_fk", "remove_fk") and columns == ["customer_id"]


@pytest.mark.both_databases
def test_overlap_guarantee_in_database(app, tradie_id):
    """Two active bookings of one tradie cannot overlap, whatever the code before the insert."""
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from peepopay.models import Booking

    start = datetime(2030, 1, 7, 20, tzinfo=UTC)

    def booking(offset_minutes: int, status: str = "confirmed") -> Booking:
        begin = start + timedelta(minutes=offset_minutes)
        return Booking(
            tradie_id=tradie_id,
            service_name="Leak",
            duration_minutes=60,
            price_minor=1000,
            deposit_minor=500,
            currency="NZD",
            customer_name="A",
            customer_email="a@example.com",
            customer_phone="+6421000000",
            job_address="1 Queen St",
            starts_at=begin,
            ends_at=begin + timedelta(hours=1),
            status=status,
        )

    with app.app_context():
        db.session.add(booking(0))
        db.session.commit()
        db.session.add(booking(30, "pending_payment"))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()
        db.session.add(booking(60))  # adjacent is fine
        db.session.add(booking(30, "cancelled"))  # inactive bookings do not count
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 3


def test_error_page_for_a_stranger_sets_no_cookie(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers


def test_an_app_with_limits_off_leaves_them_on_for_the_next_app():
    """The Limiter is one shared instance: an app created with limits off (a test's choice)
    must not switch them off for every app created after it in the same process."""
    from peepopay import create_app
    from peepopay.config import TestingConfig
    from peepopay.extensions import limiter

    create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://", "RATELIMIT_ENABLED": False})
    assert limiter.enabled is False
    create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert limiter.enabled is True
