"""`make run` over plain http: a plain `requests` session (no cookie tricks) logs in and loads
the dashboard, through Caddy to gunicorn as the development stack serves it, from 127.0.0.1 and
from another name for the host (as a phone on the local network would)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import requests

from peepopay.commands import DEMO_EMAIL, DEMO_PASSWORD
from tests.fixtures.clients import csrf_from
from tests.servers import RedisServer, SMTPSink
from tests.stack import Stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, smtp: SMTPSink) -> Iterator[Stack]:
    redis = RedisServer().start()
    stack = Stack(tmp_path_factory.mktemp("dev-http"), redis, smtp)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        redis.stop()
        shutil.rmtree(redis.dir, ignore_errors=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_requests_session_logs_in_over_http(stack: Stack, host: str) -> None:
    base = f"http://{host}:{stack.port}"
    with requests.Session() as browser:
        login_page = browser.get(f"{base}/auth/login", timeout=30)
        assert login_page.status_code == 200
        response = browser.post(
            f"{base}/auth/login",
            data={
                "email": DEMO_EMAIL,
                "password": DEMO_PASSWORD,
                "csrf_token": csrf_from(login_page.text),
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text[:500]
        assert response.url == f"{base}/dashboard"
        assert "Demo Plumbing" in response.text
        assert browser.get(f"{base}/dashboard/settings", timeout=30).status_code == 200
        set_cookie = response.history[0].headers["Set-Cookie"]
        assert "Secure" not in set_cookie and "__Host-" not in set_cookie


def test_front_door_of_the_dev_stack_shows_the_demo_widget(stack: Stack) -> None:
    page = requests.get(f"http://127.0.0.1:{stack.port}/", timeout=30)
    assert page.status_code == 200
    assert 'src="/book/demo-plumbing"' in page.text
