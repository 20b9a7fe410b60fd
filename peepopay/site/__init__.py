"""The public site: the front door at / (what PeepoPay does for a tradie), privacy and terms."""

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from peepopay.accounts import services as accounts
from peepopay.extensions import db

bp = Blueprint("site", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    """The front door; a signed-in tradie goes straight to the dashboard."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.overview"))
    demo = accounts.demo_slug(db.session, current_app.config["ENV_NAME"])
    return render_template("site/home.html", demo_slug=demo)


@bp.get("/privacy")
def privacy() -> str:
    return render_template("site/privacy.html")


@bp.get("/terms")
def terms() -> str:
    return render_template("site/terms.html")
