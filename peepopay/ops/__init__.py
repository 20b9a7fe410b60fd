"""Operations: health and readiness, Prometheus metrics, structured logs, error tracking."""

from flask import Blueprint, Flask

bp = Blueprint("ops", __name__)


def init_app(app: Flask) -> None:
    """Logging first, so every later step and request is logged the same way."""
    from peepopay.ops import errortracking, logs, metrics

    logs.init_app(app)
    errortracking.init_app(app)
    metrics.init_app(app)


from peepopay.ops import routes  # noqa: E402,F401
