"""The public JSON API the widget contract promises (DESIGN.md, "Public contracts")."""

from flask import Blueprint

from peepopay.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api")

# Cross-origin and credential-free: there is no cookie to ride on, so nothing for CSRF to guard.
csrf.exempt(bp)

from peepopay.api import routes  # noqa: E402,F401
