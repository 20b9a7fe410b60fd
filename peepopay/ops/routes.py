"""/healthz says the process serves; /readyz says its database and Redis answer; /metrics."""

from __future__ import annotations

import hmac
import ipaddress

import sqlalchemy as sa
from flask import Response, abort, current_app, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from peepopay.extensions import db, limiter
from peepopay.ops import bp, metrics
from peepopay.queue import get_queue, redis_conn


@bp.get("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("dashboard.overview"))


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz() -> tuple[Response, int]:
    """Database and Redis must answer; the queue depth and outbox backlog are reported."""
    checks: dict[str, dict[str, object]] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True}
        counts = metrics.outbox_counts()
        checks["outbox"] = {
            "ok": True,
            "backlog": counts["pending"] + counts["sending"],
            "failed": counts["failed"],
            "oldest_seconds": round(metrics.outbox_oldest_seconds(), 1),
        }
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    conn = redis_conn()
    try:
        if conn is None:
            raise RedisError("REDIS_URL is not configured")
        conn.ping()
        checks["redis"] = {"ok": True}
        queue = get_queue()
        checks["queue"] = {"ok": True, "depth": queue.count if queue else 0}
    except RedisError as exc:
        checks["redis"] = {"ok": False, "error": str(exc) or type(exc).__name__}
    ready = all(bool(check["ok"]) for check in checks.values())
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
