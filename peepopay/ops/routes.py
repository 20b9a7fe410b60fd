"""/healthz says the process serves; /readyz says its database and Redis answer; /metrics."""

from __future__ import annotations

import hmac
import ipaddress

from flask import (
    Response,
    abort,
    current_app,
    jsonify,
    request,
    send_from_directory,
)
from prometheus_client import CONTENT_TYPE_LATEST

from peepopay.extensions import db, limiter
from peepopay.ops import bp, metrics, readiness


@bp.get("/favicon.ico")
@limiter.exempt
def favicon() -> Response:
    """Browsers ask every origin for it; answering saves a 404 (and a console error) per page."""
    static = current_app.static_folder or "static"
    return send_from_directory(static, "favicon.ico", mimetype="image/x-icon", max_age=86400)


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz() -> tuple[Response, int]:
    """Database and Redis must answer; the queue depth and outbox backlog are reported."""
    checks = readiness.checks(db.session)
    ready = readiness.ready(checks)
    return jsonify(status="ready" if ready else "unavailable", checks=checks), 200 if ready else 503


def _scraper_allowed() -> bool:
    """Loopback (the real peer, after ProxyFix) or `Authorization: Bearer $METRICS_TOKEN`."""
    token = current_app.config.get("METRICS_TOKEN")
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics", endpoint="metrics")
@limiter.exempt
def metrics_view() -> Response:
    if not _scraper_allowed():
        abort(403)
    return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
