"""Routes of the customer's booking page."""

from __future__ import annotations

from flask import Response

from peepopay.customer import bp


@bp.get("/b/<token>")
def page(token: str) -> Response:
    return Response("", 404)
