"""Every URL parameter, query parameter and form field checked once for the whole app, before
any route sees it: a path segment no row can have (an id beyond the id columns, a NUL or other
control character) matches no route, so it is a 404 before any query; a NUL in a query string or
form field, which PostgreSQL refuses in text, is a 400 naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, Map, PathConverter, UnicodeConverter

from peepopay.errors import RuleRefused
from peepopay.inputs import MAX_ID, text_problem

# C0 and C1 control characters and DEL: no slug, token or name of ours has one.
_PRINTABLE = r"[^\x00-\x1f\x7f-\x9f"
_OWN_TEXT_CHECK = "peepopay_checks_own_text"

View = TypeVar("View", bound=Callable[..., Any])


class IdConverter(IntegerConverter):
    """`<int:...>`: at most the largest id a column holds (see peepopay.inputs.MAX_ID)."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = MAX_ID,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


class SegmentConverter(UnicodeConverter):
    """`<name>` and `<string:name>`: one path segment of printable characters."""

    def __init__(
        self,
        map: Map,
        minlength: int = 1,
        maxlength: int | None = None,
        length: int | None = None,
    ) -> None:
        super().__init__(map, minlength, maxlength, length)
        # The parent's pattern is "[^/]" and a repetition; keep the repetition.
        self.regex = _PRINTABLE + "/]" + self.regex.removeprefix("[^/]")


class PrintablePathConverter(PathConverter):
    """`<path:name>`: segments of printable characters."""

    regex = f"{_PRINTABLE}/]{_PRINTABLE}]*?"


def checks_own_text(view: View) -> View:
    """For a route that shows a NUL in its form fields as a field error on the form itself
    (the widget's details): the app-wide 400 leaves its fields to it."""
    setattr(view, _OWN_TEXT_CHECK, True)
    return view


def refuse_nul() -> None:
    """A 400 naming the first query parameter or form field (name or value) with a NUL."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, _OWN_TEXT_CHECK, False):
        return
    try:
        form = request.form
    except RequestEntityTooLarge:
        return  # too big to read: the route (or the app's 413) answers it, as before
    for fields in (request.args, form):
        for name, value in fields.items(multi=True):
            problem = text_problem(_label(name), name + value)
            if problem:
                raise RuleRefused(_label(name), problem, status=400)


def _label(name: str) -> str:
    return name.replace("\x00", "") or "A field name"


def init_app(app: Flask) -> None:
    """Before any blueprint adds its rules: a rule takes its converters when it is added."""
    converters: dict[str, Any] = {
        "default": SegmentConverter,
        "string": SegmentConverter,
        "path": PrintablePathConverter,
        "int": IdConverter,
    }
    app.url_map.converters.update(converters)
    app.before_request(refuse_nul)
