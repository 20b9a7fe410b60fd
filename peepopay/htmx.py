"""One place that decides between an htmx fragment and a full page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from flask import Response, flash, make_response, redirect, render_template, request


def is_htmx() -> bool:
    """A real htmx swap request: not a boosted navigation, not a history restore."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render(page: str, fragment: str, status: int = 200, **context: Any) -> Response:
    """Render `fragment` for htmx and `page` (which includes it) for everything else."""
    template = fragment if is_htmx() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def after_change(
    target: str,
    fragment: Callable[[], Response] | None = None,
    notice: str | None = None,
    category: str = "success",
    push: bool = False,
) -> Response:
    """The answer to a change: htmx gets `fragment()` (with `push`, the address bar shows
    `target`). Otherwise `notice` is flashed and the browser goes to `target`: a 303 for a plain
    request, so a reload never posts twice; HX-Redirect for htmx when there is no fragment."""
    if fragment is not None and is_htmx():
        response = fragment()
        if push:
            response.headers["HX-Push-Url"] = target
        return response
    if notice:
        flash(notice, category)
    if is_htmx():
        return Response("", 200, {"HX-Redirect": target})
    return cast(Response, redirect(target, 303))
