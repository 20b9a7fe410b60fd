"""/healthz says the process serves; /readyz says its database and Redis answer."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Response, jsonify, redirect, url_for
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError

from peepopay.extensions import db, limiter
from peepopay.ops import bp
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
    checks: dict[str, dict[str, object]] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True}
    except sa.exc.SQLAlchemyError as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    conn = redis_conn()
    try:
        if conn is None:
            raise RedisError("REDIS_URL is not configured")
        conn.ping()
        queue = get_queue()
        checks["redis"] = {"ok": True}
        checks["queue"] = {"ok": True, "backlog": len(queue) if queue else 0}
    except RedisError as exc:
        checks["redis"] = {"ok": False, "error": str(exc) or type(exc).__name__}
    ready = all(bool(check["ok"]) for check in checks.values())
    return jsonify(status="ready" if ready else "unavailable", checks=checks), 200 if ready else 503
