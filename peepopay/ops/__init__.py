"""Operations endpoints: liveness and readiness."""

from flask import Blueprint

bp = Blueprint("ops", __name__)

from peepopay.ops import routes  # noqa: E402,F401
