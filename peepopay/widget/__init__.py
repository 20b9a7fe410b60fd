"""The booking widget customers use inside an iframe on the tradie's site, and its loader."""

from flask import Blueprint

from peepopay.extensions import csrf

bp = Blueprint("widget", __name__)
embed_bp = Blueprint("embed", __name__)

# Anonymous customers on other people's sites: no session, so no ambient authority to forge;
# the state travels in the page and rate limits guard the endpoints.
csrf.exempt(bp)

from peepopay.widget import embed, photos, routes  # noqa: E402,F401
