"""The front door at /, the privacy and terms pages, and the cookies of each environment."""

from __future__ import annotations

import pytest

from peepopay import create_app
from peepopay.config import DevelopmentConfig, ProductionConfig, TestingConfig
from tests.fixtures.factories import make_tradie


def test_front_door_says_what_peepopay_does_and_links_to_sign_up_and_log_in(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Bookings with a deposit" in page
    assert 'href="/auth/signup"' in page and 'href="/auth/login"' in page
    assert 'href="/privacy"' in page and 'href="/terms"' in page
    assert "Set-Cookie" not in response.headers  # nobody signed in: no session made
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_front_door_shows_the_demo_widget_in_development_only(app, client):
    make_tradie(app, slug="demo-plumbing", email="demo@example.com")
    assert "/book/demo-plumbing" not in client.get("/").get_data(as_text=True)  # testing
    app.config["ENV_NAME"] = "development"
    page = client.get("/").get_data(as_text=True)
    assert '<iframe class="demo-frame" src="/book/demo-plumbing"' in page


def test_signed_in_tradie_goes_to_the_dashboard(signed_in):
    response = signed_in.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"


@pytest.mark.parametrize("path, title", [("/privacy", "Privacy"), ("/terms", "Terms")])
def test_privacy_and_terms_pages_have_placeholder_text(client, path, title):
    response = client.get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"<h1>{title}</h1>" in page
    assert "Placeholder text" in page


def test_development_cookies_work_over_plain_http_and_production_keeps_host_prefix():
    # TESTING keeps the process's logging as the other tests expect it (no root handler).
    development = create_app(
        DevelopmentConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True}
    )
    for kind in ("SESSION", "REMEMBER", "DEVICE"):
        assert not development.config[f"{kind}_COOKIE_NAME"].startswith("__Host-")
        assert development.config[f"{kind}_COOKIE_SECURE"] is False
    for config in (ProductionConfig, TestingConfig):
        for kind in ("SESSION", "REMEMBER", "DEVICE"):
            assert getattr(config, f"{kind}_COOKIE_NAME").startswith("__Host-")
            assert getattr(config, f"{kind}_COOKIE_SECURE") is True
