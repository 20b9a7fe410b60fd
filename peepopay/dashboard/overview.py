"""The overview page: today's and this week's jobs, the month's money, the embed codes."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, url_for
from flask_login import current_user
from markupsafe import escape

from peepopay.analytics import overview as figures
from peepopay.clock import utcnow
from peepopay.dashboard import bp
from peepopay.extensions import db
from peepopay.htmx import render


def path_for(rule_text: str, fallback: str, **values: Any) -> str:
    """The path of another area's route when installed, else its public-contract path."""
    for rule in current_app.url_map.iter_rules():
        if rule.rule == rule_text:
            return url_for(rule.endpoint, **values)
    return fallback


def widget_installed() -> bool:
    return any(rule.rule == "/book/<slug>" for rule in current_app.url_map.iter_rules())


def embed_codes(slug: str, business_name: str) -> dict[str, str]:
    """The two snippets a tradie pastes into their site."""
    base = current_app.config["BASE_URL"].rstrip("/")
    page = base + path_for("/book/<slug>", f"/book/{slug}", slug=slug)
    loader = base + path_for("/embed.js", "/embed.js")
    title = escape(f"Book with {business_name}")
    return {
        "iframe": (
            f'<iframe src="{page}" title="{title}" loading="lazy" '
            'style="width:100%;min-height:680px;border:0"></iframe>'
        ),
        "script": f'<script src="{loader}" data-tradie="{slug}" async></script>',
        "page": page,
    }


def connect_url() -> str | None:
    """Where to connect Stripe, once the payments area provides the page."""
    if "payments.dashboard" in current_app.view_functions:
        return url_for("payments.dashboard")
    return None


@bp.get("")
def overview() -> Response:
    tradie = current_user
    return render(
        "dashboard/overview.html",
        "dashboard/_overview.html",
        tradie=tradie,
        data=figures.overview(db.session, tradie, utcnow()),
        embed=embed_codes(tradie.slug, tradie.business_name),
        preview_src=(
            path_for("/book/<slug>", "", slug=tradie.slug) if widget_installed() else None
        ),
        connect_url=connect_url(),
    )
