"""PeepoPay: bookings with a deposit for tradespeople.

Domain areas own models, rules and services:
    accounts/ catalog/ scheduling/ bookings/ payments/ notifications/ analytics/
Surfaces own routes, forms and templates, and call the areas:
    dashboard/ (one module per navigation entry, and the /auth pages) widget/ api/ customer/ ops/
Imports point down: surfaces -> analytics, bookings -> payments, accounts, catalog, scheduling
-> notifications -> every */models.py -> shared helpers (clock, money, rules, db_setup, ...);
tests/test_import_graph.py fails on any cycle between areas.
"""

from typing import Any

from flask import Flask

from peepopay.config import INSTANCE, ROOT, Config, ConfigError, config_from_env


def create_app(
    config: type[Config] | None = None, overrides: dict[str, Any] | None = None
) -> Flask:
    """Build the app from a config class (by default the environment's) plus any overrides."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(INSTANCE),
    )
    register_config(app, config, overrides or {})
    register_ops(app)
    register_routing(app)
    register_extensions(app)
    register_blueprints(app)
    register_security(app)
    register_errors(app)
    register_commands(app)
    register_templates(app)
    return app


def register_config(app: Flask, config: type[Config] | None, overrides: dict[str, Any]) -> None:
    base = config or config_from_env()
    base.check()
    app.config.from_object(base)
    app.config.update(overrides)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A file on this machine never goes stale; the ping would cost a query per request.
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"], pool_pre_ping=False)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    INSTANCE.mkdir(parents=True, exist_ok=True)
    if app.config["TRUSTED_PROXIES"]:
        from peepopay.net import ProxyFixFrom, proxy_networks

        setting = app.config["FORWARDED_ALLOW_IPS"] or ""
        try:
            proxies = proxy_networks(setting)
        except ValueError as error:
            raise ConfigError(
                f"FORWARDED_ALLOW_IPS must list the proxy's addresses or networks, "
                f"comma-separated, not {setting!r}: {error}"
            ) from error
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFixFrom(app.wsgi_app, proxies, hops)  # type: ignore[method-assign]


def register_ops(app: Flask) -> None:
    from peepopay import assets, ops

    ops.init_app(app)
    assets.init_app(app)


def register_routing(app: Flask) -> None:
    """URL converters for every rule (so before the blueprints) and the query and form check."""
    from peepopay import routing

    routing.init_app(app)


def register_extensions(app: Flask) -> None:
    from peepopay import db_setup, models  # noqa: F401  (registers every table)
    from peepopay.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    db_setup.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    from peepopay import queue, slot_versions
    from peepopay.accounts import google
    from peepopay.payments import onboarding

    queue.init_app(app)
    slot_versions.init_app(app)
    google.init_app(app)
    onboarding.init_app(app)


def register_blueprints(app: Flask) -> None:
    """The URL map in one place: one blueprint per area."""
    from peepopay.api import bp as api
    from peepopay.api.webhooks import webhooks_bp
    from peepopay.customer import bp as customer
    from peepopay.customer.pay import pay_bp
    from peepopay.dashboard import bp as dashboard
    from peepopay.dashboard.auth import bp as auth
    from peepopay.dashboard.payments import bp as payments
    from peepopay.notifications.routes import bp as calendar
    from peepopay.ops import bp as ops
    from peepopay.site import bp as site
    from peepopay.widget import bp as widget
    from peepopay.widget import embed_bp

    blueprints = [
        site,  # /, /privacy, /terms
        ops,  # /healthz, /readyz, /metrics, /favicon.ico
        auth,  # /auth/...
        dashboard,  # /dashboard/...
        payments,  # /dashboard/payments, booking payment actions
        calendar,  # /calendar/<token>.ics, /dashboard/calendar/...
        widget,  # /book/<slug>, /widget/<slug>
        embed_bp,  # /embed.js
        api,  # /api/widget/<slug>/...
        customer,  # /b/<token>
        pay_bp,  # /pay/<token> (balance payment links)
        webhooks_bp,  # /webhooks/stripe, /webhooks/stripe/connect
    ]
    if app.config["DEV_MAILBOX"]:
        from peepopay.notifications.devmail import bp as devmail

        blueprints.append(devmail)  # /dev/mailbox
    for blueprint in blueprints:
        app.register_blueprint(blueprint)


def register_security(app: Flask) -> None:
    from peepopay import security

    security.init_app(app)


def register_errors(app: Flask) -> None:
    from peepopay import errors

    errors.init_app(app)


def register_commands(app: Flask) -> None:
    from peepopay import commands

    commands.init_app(app)


def register_templates(app: Flask) -> None:
    from peepopay import formatting

    formatting.init_app(app)
