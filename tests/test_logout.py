"""Logging out ends the remember-me cookie on the server, so a copy taken before still fails."""

from __future__ import annotations

from tests.fixtures.clients import csrf_token


def login(client, remember: bool = True):
    data = {
        "email": "tradie@example.com",
        "password": "correct horse battery",
        "csrf_token": csrf_token(client),
    }
    if remember:
        data["remember"] = "y"
    return client.post("/auth/login", data=data)


def test_a_remember_cookie_copied_before_logout_no_longer_signs_in(app, client, tradie_id):
    assert login(client).status_code == 303
    copied = client.get_cookie("__Host-remember").value
    session_copy = client.get_cookie("__Host-session").value
    logout = client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    assert logout.status_code == 303
    assert client.get("/dashboard").status_code == 302
    for name, value in (("__Host-remember", copied), ("__Host-session", session_copy)):
        thief = app.test_client()
        thief.set_cookie(name, value)
        page = thief.get("/dashboard")
        assert page.status_code == 302, name
        assert page.headers["Location"].startswith("/auth/login")


def test_after_logout_the_same_browser_logs_in_again_and_stays_a_known_device(
    app, client, tradie_id
):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "1 per 5 minutes"
    assert login(client).status_code == 303
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    # A stranger's wrong password locks the account; the owner's browser still gets in.
    stranger = app.test_client()
    wrong = {"email": "tradie@example.com", "password": "not the password at all"}
    stranger.post("/auth/login", data={**wrong, "csrf_token": csrf_token(stranger)})
    assert login(client, remember=False).status_code == 303
    assert client.get("/dashboard").status_code == 200
