"""The emulator's Flask app: the /v1 API, hosted pages and the /_emulator control API."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException

from . import api, checkout, control, hosted, routes_connect, routes_payments
from .money import money
from .state import Emulator, EmulatorConfig
from .webhooks import DeliverySettings

# Importing the route modules registers their views on api.bp.
_ROUTES = (routes_connect, routes_payments)


def create_emulator_app(config: EmulatorConfig | None = None, **options: Any) -> Flask:
    """A new emulator with its own state.

    `options` override `EmulatorConfig` fields (public_url, webhook_url, webhook_secret,
    connect_webhook_url, connect_webhook_secret) and `DeliverySettings` fields
    (deliver_times, shuffle, hold_events, retry_base_seconds, max_attempts, timeout_seconds).
    """
    config = _with_options(config or EmulatorConfig(), options)
    app = Flask(__name__)
    app.jinja_env.filters["money"] = money
    emu = Emulator(config)
    checkout.install(emu)
    app.extensions["stripe_emulator"] = emu
    app.register_blueprint(api.bp)
    app.register_blueprint(hosted.bp)
    app.register_blueprint(control.bp)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_found)
    app.register_error_handler(500, _internal_error)
    app.after_request(_save)
    return app


def _save(response: Any) -> Any:
    """Keep the state file current after anything that may have changed state."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        app_emulator: Emulator = current_app.extensions["stripe_emulator"]
        app_emulator.save()
    return response


def _with_options(config: EmulatorConfig, options: dict[str, Any]) -> EmulatorConfig:
    config_fields = {f.name for f in dataclasses.fields(EmulatorConfig)}
    delivery_fields = {f.name for f in dataclasses.fields(DeliverySettings)}
    unknown = set(options) - config_fields - delivery_fields
    if unknown:
        raise TypeError(f"unknown emulator options: {', '.join(sorted(unknown))}")
    delivery = dataclasses.replace(
        config.delivery, **{k: v for k, v in options.items() if k in delivery_fields}
    )
    return dataclasses.replace(
        config, delivery=delivery, **{k: v for k, v in options.items() if k in config_fields}
    )


def _not_found(error: HTTPException) -> Any:
    if request.path.startswith("/v1/"):
        return api.unrecognized_url(error)
    return error


def _internal_error(error: HTTPException) -> Any:
    if request.path.startswith("/v1/"):
        return api.internal_error(error)
    return error
