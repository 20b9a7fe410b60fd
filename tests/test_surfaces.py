"""One classifier tells the widget surface from the dashboard: headers and cookies follow it."""

import pytest
from flask import request

from peepopay.security import surface


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/book/sparkies", "widget"),
        ("/widget/sparkies", "widget"),
        ("/embed.js", "widget"),
        ("/api/widget/sparkies/config", "widget"),
        ("/b/some-token", "widget"),
        ("/calendar/some-token.ics", "widget"),
        ("/dashboard", "dashboard"),
        ("/auth/login", "dashboard"),
        ("/", "dashboard"),
        ("/booking", "dashboard"),
    ],
)
def test_surface_by_path(app, path, expected):
    with app.test_request_context(path):
        assert surface(request) == expected


@pytest.mark.parametrize("path", ["/book/{slug}", "/api/widget/{slug}/config", "/embed.js"])
def test_widget_ignores_the_tradies_own_session(app, signed_in, path):
    """A signed-in tradie previewing their widget: framable, and no cookie read or written."""
    from peepopay.accounts.models import Tradie
    from peepopay.extensions import db

    with app.app_context():
        slug = db.session.scalars(db.select(Tradie.slug)).one()
    response = signed_in.get(path.format(slug=slug))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors 'none'" not in response.headers["Content-Security-Policy"]
    # The dashboard session is untouched by the widget request.
    assert signed_in.get("/dashboard").status_code == 200
