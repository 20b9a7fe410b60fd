"""Dashboard pages."""

from __future__ import annotations

from flask import Response
from flask_login import current_user

from peepopay.dashboard import bp
from peepopay.htmx import render


@bp.get("")
def overview() -> Response:
    return render("dashboard/overview.html", "dashboard/_overview.html", tradie=current_user)
