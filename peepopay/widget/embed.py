"""GET /embed.js: the loader a tradie pastes into their site."""

from __future__ import annotations

import hashlib
from functools import cache

from flask import Response, request

from peepopay.config import ROOT
from peepopay.extensions import limiter
from peepopay.widget import embed_bp

LOADER = ROOT / "widget" / "embed.js"


@cache
def _loader() -> tuple[bytes, str]:
    body = LOADER.read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:16]


@embed_bp.get("/embed.js")
@limiter.exempt
def loader() -> Response:
    body, etag = _loader()
    response = Response(body, mimetype="text/javascript")
    # Not fingerprinted (the URL is in tradies' sites): short freshness, then revalidate by ETag.
    response.headers["Cache-Control"] = "public, max-age=3600, stale-while-revalidate=86400"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.set_etag(etag)
    response.make_conditional(request)
    return response
