"""Answering with a stored image: never cached by others, never sniffed as anything else."""

from __future__ import annotations

from flask import Response, abort


def jpeg(data: bytes | None) -> Response:
    """The JPEG bytes as an inline image; 404 when there are none."""
    if data is None:
        abort(404)
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    # Should a browser be talked into showing it as a page after all, it can run nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
