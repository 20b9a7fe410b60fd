"""The overview page: today's and this week's jobs, the month's money, the embed codes."""

from __future__ import annotations

from flask import Response, current_app, url_for

from peepopay.accounts import first_run as setup
from peepopay.analytics import overview as figures
from peepopay.clock import utcnow
from peepopay.dashboard import bp, signed_in
from peepopay.extensions import db
from peepopay.htmx import render
from peepopay.widget.snippets import Snippets, snippets


def embed_codes(slug: str, business_name: str) -> Snippets:
    """The snippets a tradie pastes into their site: the iframe first, the script-only one
    for site builders that strip iframes."""
    base = current_app.config["BASE_URL"].rstrip("/")
    page = base + url_for("widget.start", slug=slug)
    return snippets(page, base + url_for("embed.loader"), slug, business_name)


@bp.get("")
def overview() -> Response:
    tradie = signed_in()
    steps = setup.steps(db.session, tradie)
    return render(
        "dashboard/overview.html",
        "dashboard/_overview.html",
        tradie=tradie,
        data=figures.overview(db.session, tradie, utcnow()),
        embed=embed_codes(tradie.slug, tradie.business_name),
        preview_src=url_for("widget.start", slug=tradie.slug),
        steps=steps,
        # A sign-up nobody confirmed has no public booking page (Tradie.public).
        missing=([] if tradie.is_public else ["confirm your email address"])
        + setup.missing_for_bookings(steps),
    )
