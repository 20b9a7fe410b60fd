"""Settings: profile and slug, branding and logo, embedding origins, notifications, account."""

from __future__ import annotations

import hashlib
import html as htmllib
import io
import re

import pytest
import sqlalchemy as sa

from peepopay.colours import WHITE, contrast_ratio
from peepopay.extensions import db
from peepopay.models import AuditLog, Booking, OutboxMessage, Service, Tradie
from tests.fixtures.clients import Auth, DashboardClient, csrf_token
from tests.fixtures.factories import make_tradie

pytestmark = pytest.mark.usefixtures("fast_passwords", "dash_now")

REMEMBER = "__Host-remember"

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 200


@pytest.fixture
def app_config(app_config, tmp_path):
    return {**app_config, "LOGO_DIR": str(tmp_path / "logos")}


PROFILE = {
    "business_name": "Kiwi Plumbing Ltd",
    "slug": "kiwi-plumbing",
    "phone": "021 123 4567",
    "contact_email": "Jobs@Kiwi.example",
    "timezone": "Pacific/Auckland",
    "currency": "NZD",
    "country": "NZ",
}


def tradie(app, tradie_id):
    with app.app_context():
        row = db.session.get(Tradie, tradie_id)
        db.session.expunge(row)
        return row


def last_audit(app):
    with app.app_context():
        return db.session.scalar(sa.select(AuditLog).order_by(AuditLog.id.desc()))


def field_block(html, name):
    match = re.search(
        rf'<div class="field[^"]*" id="field-{name}">.*?</div>\s*</div>|'
        rf'<div class="field[^"]*" id="field-{name}">.*?</div>',
        html,
        re.S,
    )
    assert match, f"no {name} field in the response"
    return htmllib.unescape(match.group(0))


def assert_refused(response, field, message, htmx):
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    block = field_block(html, field)
    assert "has-error" in block and message in block, block


@pytest.mark.parametrize("htmx", [False, True])
def test_settings_page(dash, htmx):
    response = dash.get("/dashboard/settings", htmx=htmx)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    assert 'value="Kiwi Plumbing"' in html
    assert '<option selected value="Pacific/Auckland">' in html
    assert "Europe/London" in html and "America/New_York" in html
    assert 'enctype="multipart/form-data"' in html
    for section in ("profile", "branding", "embedding", "notifications", "email", "password"):
        assert f'id="{section}"' in html
    assert 'href="/dashboard/settings/export.json"' in html


def test_save_profile(app, dash, tradie_id):
    response = dash.post("/dashboard/settings/profile", PROFILE)
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/settings#profile"
    t = tradie(app, tradie_id)
    assert (t.business_name, t.slug, t.phone, t.contact_email) == (
        "Kiwi Plumbing Ltd",
        "kiwi-plumbing",
        "+64211234567",
        "jobs@kiwi.example",
    )
    entry = last_audit(app)
    assert entry.action == "settings.profile_updated"
    assert entry.summary["business_name"] == ["Kiwi Plumbing", "Kiwi Plumbing Ltd"]


def test_save_profile_with_htmx_for_another_country(app, dash, tradie_id):
    data = {
        **PROFILE,
        "phone": "0412 345 678",
        "country": "AU",
        "currency": "AUD",
        "timezone": "Australia/Sydney",
    }
    response = dash.post("/dashboard/settings/profile", data, htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="profile"') and "Business details saved." in html
    t = tradie(app, tradie_id)
    assert (t.phone, t.country, t.currency, t.timezone) == (
        "+61412345678",
        "AU",
        "AUD",
        "Australia/Sydney",
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"business_name": ""}, "business_name", "Business name is required."),
        ({"business_name": "x"}, "business_name", "Business name must be 2 to 120 characters."),
        ({"slug": ""}, "slug", "Booking page address is required."),
        ({"slug": "Kiwi Plumbing"}, "slug", "Booking page address: Use 3–60 lower-case"),
        ({"slug": "admin"}, "slug", "Booking page address: That address is reserved"),
        ({"slug": "taken-already"}, "slug", "Booking page address is already taken"),
        ({"phone": "12"}, "phone", "Contact phone must be a valid phone number for NZ"),
        ({"phone": "0412 345 678"}, "phone", "Contact phone must be a valid phone number for NZ"),
        ({"contact_email": "nope"}, "contact_email", "Contact email must be a valid address"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Time zone must be chosen from the list."),
        ({"currency": "XYZ"}, "currency", "Currency must be chosen from the list."),
        ({"country": "ZZ"}, "country", "Country must be chosen from the list."),
    ],
)
def test_profile_refuses_bad_input_naming_the_field(app, dash, tradie_id, changes, field, message):
    make_tradie(app, email="taken@example.com", slug="taken-already")
    for htmx in (False, True):
        response = dash.post("/dashboard/settings/profile", {**PROFILE, **changes}, htmx=htmx)
        assert_refused(response, field, message, htmx)
    assert tradie(app, tradie_id).business_name == "Kiwi Plumbing"


@pytest.mark.parametrize(
    ("slug", "status", "message"),
    [
        ("fresh-name", 200, "Available: http://peepopay.test/book/fresh-name"),
        ("kiwi-plumbing", 200, "Available: http://peepopay.test/book/kiwi-plumbing"),
        ("dashboard", 422, "That address is reserved; choose another."),
        ("taken-already", 422, "Booking page address is already taken"),
        ("-bad-", 422, "Use 3–60 lower-case letters"),
    ],
)
def test_slug_availability_check(app, dash, slug, status, message):
    make_tradie(app, email="taken@example.com", slug="taken-already")
    response = dash.post("/dashboard/settings/slug-check", {**PROFILE, "slug": slug}, htmx=True)
    assert response.status_code == status
    html = htmllib.unescape(response.get_data(as_text=True)).strip()
    assert html.startswith('<div class="field') and 'id="field-slug"' in html
    assert message in html
    assert 'hx-post="/dashboard/settings/slug-check"' in html
    page = dash.post("/dashboard/settings/slug-check", {**PROFILE, "slug": slug})
    assert page.status_code == status and "<html" in page.get_data(as_text=True)


def test_brand_colour_and_logo(app, dash, tradie_id, tmp_path):
    response = dash.post(
        "/dashboard/settings/branding",
        {"brand_color": "#0B5", "logo": (io.BytesIO(PNG), "logo.gif")},
    )
    assert response.status_code == 422  # #00bb55 is too light for white text
    response = dash.post(
        "/dashboard/settings/branding",
        {"brand_color": "#0B3D2E", "logo": (io.BytesIO(PNG), "logo.gif")},
    )
    assert response.status_code == 303
    name = hashlib.sha256(PNG).hexdigest() + ".png"  # the bytes decide the type, not the name
    t = tradie(app, tradie_id)
    assert (t.brand_color, t.logo_path) == ("#0b3d2e", name)
    assert (tmp_path / "logos" / name).read_bytes() == PNG
    assert last_audit(app).action == "settings.branding_updated"
    html = dash.get("/dashboard/settings").get_data(as_text=True)
    assert f'src="/dashboard/logo/{name}"' in html
    # Served to anyone (the booking page shows it), cached for a year.
    with app.test_client().get(f"/dashboard/logo/{name}") as logo:
        assert logo.status_code == 200 and logo.data == PNG
        assert logo.mimetype == "image/png"
        assert logo.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    # Remove it.
    response = dash.post(
        "/dashboard/settings/branding", {"brand_color": "#0b3d2e", "remove_logo": "y"}, htmx=True
    )
    assert response.status_code == 200 and "Branding saved." in response.get_data(as_text=True)
    assert tradie(app, tradie_id).logo_path is None


@pytest.mark.parametrize(("data", "ext"), [(JPEG, "jpg"), (WEBP, "webp")])
def test_jpeg_and_webp_logos(app, dash, tradie_id, data, ext):
    response = dash.post(
        "/dashboard/settings/branding",
        {"brand_color": "#1d4ed8", "logo": (io.BytesIO(data), "logo.png")},
        htmx=True,
    )
    assert response.status_code == 200
    assert tradie(app, tradie_id).logo_path == f"{hashlib.sha256(data).hexdigest()}.{ext}"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"brand_color": ""}, "brand_color", "Brand colour is required."),
        ({"brand_color": "blue"}, "brand_color", "Brand colour must be a hex colour like #1d4ed8."),
        ({"brand_color": "#ffff00"}, "brand_color", "Brand colour is too light for white text"),
        ({"brand_color": "#777777"}, "brand_color", "contrast 4.48:1, needs at least 4.5:1"),
        (
            {"logo": (io.BytesIO(b"GIF89a" + b"\x00" * 50), "logo.png")},
            "logo",
            "Logo must be a PNG, JPEG or WebP image.",
        ),
        (
            {"logo": (io.BytesIO(b"<svg onload=alert(1)>"), "logo.png")},
            "logo",
            "Logo must be a PNG, JPEG or WebP image.",
        ),
    ],
)
def test_branding_refuses_bad_input_naming_the_field(app, dash, tradie_id, changes, field, message):
    for htmx in (False, True):
        data = {"brand_color": "#1d4ed8", **changes}
        if "logo" in changes:  # a file can be read once; give each request its own
            data["logo"] = (io.BytesIO(changes["logo"][0].getvalue()), changes["logo"][1])
        response = dash.post("/dashboard/settings/branding", data, htmx=htmx)
        assert_refused(response, field, message, htmx)
    t = tradie(app, tradie_id)
    assert (t.brand_color, t.logo_path) == ("#1d4ed8", None)


def multipart(fields, filename, content):
    """A multipart body built by hand: the test client would spool a big one to an unclosed
    temporary file."""
    boundary = "peepopay-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="logo"; filename="{filename}"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_logo_over_one_megabyte_is_refused(app, dash, tradie_id):
    for htmx in (False, True):
        body, content_type = multipart(
            {"csrf_token": dash.token, "brand_color": "#1d4ed8"},
            "big.png",
            PNG + b"\x00" * (1024 * 1024),
        )
        response = dash.client.post(
            "/dashboard/settings/branding",
            data=body,
            content_type=content_type,
            headers={"HX-Request": "true"} if htmx else {},
        )
        assert_refused(response, "logo", "Logo must be at most 1 MB.", htmx)
    assert tradie(app, tradie_id).logo_path is None


@pytest.mark.parametrize(
    ("colour", "ok"), [("#767676", True), ("#777777", False), ("#000000", True), ("#fff", False)]
)
def test_contrast_threshold_is_wcag_aa(colour, ok):
    assert (contrast_ratio(colour, WHITE) >= 4.5) is ok


@pytest.mark.parametrize("name", ["../secret.png", "abc.png", "0" * 64 + ".gif", "0" * 64 + ".png"])
def test_logo_route_serves_only_stored_hash_names(client, name):
    assert client.get(f"/dashboard/logo/{name}").status_code == 404


def test_allowed_origins_are_normalised(app, dash, tradie_id):
    text = "https://Example.com/\n\n  http://localhost:8000 \nhttps://example.com\nhttps://shop.example.co.nz:8443"
    response = dash.post("/dashboard/settings/embedding", {"allowed_origins": text}, htmx=True)
    assert response.status_code == 200
    assert tradie(app, tradie_id).origins == [
        "https://example.com",
        "http://localhost:8000",
        "https://shop.example.co.nz:8443",
    ]
    assert last_audit(app).action == "settings.embedding_updated"
    assert dash.post("/dashboard/settings/embedding", {"allowed_origins": ""}).status_code == 303
    assert tradie(app, tradie_id).origins == []


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_embedding_offers_the_iframe_snippet_first_and_the_script_tag_as_the_alternative(
    dash, htmx
):
    # The whole page, and the section as a save answers it to htmx.
    if htmx:
        response = dash.post("/dashboard/settings/embedding", {"allowed_origins": ""}, htmx=True)
    else:
        response = dash.get("/dashboard/settings")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    section = html[html.index('<section id="embedding"') :]
    section = section[: section.index("</section>")]
    plain = htmllib.unescape(section)
    iframe = (
        '<link rel="preconnect" href="http://peepopay.test">\n'
        '<iframe src="http://peepopay.test/book/kiwi-plumbing" title="Book with Kiwi Plumbing"'
        ' loading="eager" allow="payment"'
        ' style="display:block;width:100%;min-width:280px;height:640px;border:0"></iframe>\n'
        '<script src="http://peepopay.test/embed.js" async></script>'
    )
    script = '<script src="http://peepopay.test/embed.js" data-tradie="kiwi-plumbing" async>'
    assert iframe in plain and script in plain
    assert plain.index(iframe) < plain.index(script)  # the fast one first
    assert 'loading="lazy"' in plain  # how to change it for a form far down the page
    # Shown as text to copy, never as live markup in the dashboard.
    assert "<iframe" not in section and "&lt;iframe src=" in section
    assert 'data-copy="embed-iframe"' in section and 'data-copy="embed-script"' in section
    assert 'name="allowed_origins"' in section  # the allowed sites stay in the section


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("example.com", "Allowed origins, line 1: “example.com” is not an origin"),
        ("https://example.com\nhttps://example.com/booking", "Allowed origins, line 2"),
        ("ftp://example.com", "Allowed origins, line 1"),
        ("https://*.example.com", "Allowed origins, line 1"),
        ("https://user:pw@example.com", "Allowed origins, line 1"),
        ("https://example.com:99999", "Allowed origins, line 1"),
        ("https://example.com?x=1", "Allowed origins, line 1"),
        ("\n".join(f"https://s{n}.example.com" for n in range(21)), "at most 20 sites"),
    ],
)
def test_allowed_origins_refuse_what_is_not_an_origin(app, dash, tradie_id, text, message):
    for htmx in (False, True):
        response = dash.post("/dashboard/settings/embedding", {"allowed_origins": text}, htmx=htmx)
        assert_refused(response, "allowed_origins", message, htmx)
    assert tradie(app, tradie_id).allowed_origins == ""


def test_notification_preferences(app, dash, tradie_id):
    response = dash.post(
        "/dashboard/settings/notifications",
        {"notify_new_booking_email": "y", "reminder_hours": "2"},
    )
    assert response.status_code == 303
    t = tradie(app, tradie_id)
    assert (t.notify_new_booking_email, t.notify_new_booking_sms, t.reminder_hours) == (
        True,
        False,
        2,
    )
    assert last_audit(app).summary == {
        "notify_new_booking_sms": [True, False],
        "reminder_hours": [24, 2],
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Reminder is required."),
        ("-1", "Reminder must be between 0 and 168 hours before."),
        ("200", "Reminder must be between 0 and 168 hours before."),
        ("soon", "Reminder must be a whole number."),
    ],
)
def test_notifications_refuse_bad_reminders(app, dash, tradie_id, value, message):
    for htmx in (False, True):
        response = dash.post(
            "/dashboard/settings/notifications", {"reminder_hours": value}, htmx=htmx
        )
        assert_refused(response, "reminder_hours", message, htmx)
    assert tradie(app, tradie_id).reminder_hours == 24


def test_change_login_email_needs_reverification(app, dash, tradie_id):
    response = dash.post(
        "/dashboard/settings/email",
        {"new_email": "New@Example.com", "email_password": "correct horse battery"},
        htmx=True,
    )
    assert response.status_code == 200
    assert "Check your inbox to confirm the new address." in response.get_data(as_text=True)
    t = tradie(app, tradie_id)
    assert (t.email, t.email_verified_at) == ("new@example.com", None)
    with app.app_context():
        message = db.session.scalar(sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()))
        assert (message.kind, message.recipient) == ("verify_email", "new@example.com")
    assert last_audit(app).summary == {"from": "tradie@example.com", "to": "new@example.com"}
    # The banner asks to confirm, and the new address logs in.
    assert "Please confirm your email address" in dash.get("/dashboard").get_data(as_text=True)
    fresh = app.test_client()
    assert Auth(fresh).login("new@example.com").status_code == 303


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"new_email": ""}, "new_email", "New email is required."),
        ({"new_email": "not-an-email"}, "new_email", "New email must be a valid address"),
        ({"new_email": "TRADIE@example.com"}, "new_email", "New email is the same"),
        ({"new_email": "taken@example.com"}, "new_email", "New email belongs to another account."),
        ({"email_password": ""}, "email_password", "Current password is required."),
        ({"email_password": "wrong one"}, "email_password", "Current password is incorrect."),
    ],
)
def test_change_email_refuses_bad_input_naming_the_field(
    app, dash, tradie_id, data, field, message
):
    make_tradie(app, email="taken@example.com")
    for htmx in (False, True):
        response = dash.post(
            "/dashboard/settings/email",
            {"new_email": "new@example.com", "email_password": "correct horse battery", **data},
            htmx=htmx,
        )
        assert_refused(response, field, message, htmx)
    assert tradie(app, tradie_id).email == "tradie@example.com"


PASSWORDS = {
    "current_password": "correct horse battery",
    "new_password": "a much longer phrase",
    "confirm_password": "a much longer phrase",
}


def test_change_password(app, dash, tradie_id):
    response = dash.post("/dashboard/settings/password", PASSWORDS)
    assert response.status_code == 303
    assert last_audit(app).action == "account.password_changed"
    fresh = app.test_client()
    assert Auth(fresh).login(password="correct horse battery").status_code != 303
    assert Auth(app.test_client()).login(password="a much longer phrase").status_code == 303


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"current_password": ""}, "current_password", "Current password is required."),
        (
            {"current_password": "nope nope nope"},
            "current_password",
            "Current password is incorrect.",
        ),
        ({"new_password": "", "confirm_password": ""}, "new_password", "New password is required."),
        (
            {"new_password": "short", "confirm_password": "short"},
            "new_password",
            "New password: Password must be at least 10 characters.",
        ),
        (
            {"confirm_password": "something else"},
            "confirm_password",
            "Repeat new password must match",
        ),
    ],
)
def test_change_password_refuses_bad_input_naming_the_field(
    app, dash, tradie_id, data, field, message
):
    for htmx in (False, True):
        response = dash.post("/dashboard/settings/password", {**PASSWORDS, **data}, htmx=htmx)
        assert_refused(response, field, message, htmx)
    assert Auth(app.test_client()).login().status_code == 303


def test_export_has_everything_but_secrets(app, dash, tradie_id, add_booking, add_payment):
    booking_id = add_booking()
    add_payment(booking_id)
    response = dash.get("/dashboard/settings/export.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="peepopay-')
    data = response.get_json()
    assert data["account"]["email"] == "tradie@example.com"
    assert "password_hash" not in data["account"] and "calendar_token" not in data["account"]
    assert [s["name"] for s in data["services"]] == ["Leak repair"]
    assert len(data["availability"]) == 7
    assert [b["id"] for b in data["bookings"]] == [booking_id]
    assert data["bookings"][0]["starts_at"] == "2030-01-09T09:00:00+13:00"  # the tradie's zone
    assert data["payments"][0]["amount_minor"] == 5000
    assert last_audit(app).action == "account.exported"
    assert "correct horse" not in response.get_data(as_text=True)


def test_delete_account_with_the_password_from_any_device(
    app, dash, tradie_id, add_booking, other_dash
):
    booking_id = add_booking(status="completed")
    # The export is offered on the same page; downloading it (here, or in another browser) is
    # not a condition of deleting.
    page = dash.get("/dashboard/settings").get_data(as_text=True)
    assert 'href="/dashboard/settings/export.json"' in page
    form = {"confirm_delete": "y", "delete_password": "correct horse battery"}
    response = dash.post("/dashboard/settings/delete", form)
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/login"
    with app.app_context():
        assert db.session.get(Tradie, tradie_id) is None
        assert db.session.get(Booking, booking_id) is None
        assert db.session.scalar(sa.select(Service).where(Service.tradie_id == tradie_id)) is None
        entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "account.deleted"))
        assert (entry.tradie_id, entry.entity_id) == (None, str(tradie_id))
        # The other tradie keeps everything.
        assert db.session.scalar(sa.select(sa.func.count(Tradie.id))) == 1
    assert dash.get("/dashboard").status_code == 302  # signed out
    assert other_dash.get("/dashboard").status_code == 200


def test_delete_with_htmx_redirects_the_whole_page(app, dash, tradie_id):
    response = dash.post(
        "/dashboard/settings/delete",
        {"confirm_delete": "y", "delete_password": "correct horse battery"},
        htmx=True,
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/auth/login"
    with app.app_context():
        assert db.session.get(Tradie, tradie_id) is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"confirm_delete": ""}, "confirm_delete", "Tick “Delete my account and all its data"),
        ({"delete_password": ""}, "delete_password", "Password is required to delete"),
        ({"delete_password": "wrong wrong"}, "delete_password", "Password is incorrect."),
        ({"upcoming": True}, "delete_password", "You have 1 upcoming confirmed booking"),
    ],
)
def test_delete_refuses_naming_the_field(app, dash, tradie_id, add_booking, data, field, message):
    data = dict(data)  # the parameters are shared by both database runs
    if data.pop("upcoming", False):
        add_booking()
    form = {"confirm_delete": "y", "delete_password": "correct horse battery", **data}
    for htmx in (False, True):
        response = dash.post("/dashboard/settings/delete", form, htmx=htmx)
        assert_refused(response, field, message, htmx)
    assert tradie(app, tradie_id) is not None


# --- sessions: a password or email change, or "Log out other devices", ends the others --------


def browser(app, remember=False):
    """Another browser signed in as the same tradie (with "Remember me" if asked)."""
    client = app.test_client()
    data = {
        "email": "tradie@example.com",
        "password": "correct horse battery",
        "csrf_token": csrf_token(client),
    }
    if remember:
        data["remember"] = "y"
    assert client.post("/auth/login", data=data).status_code == 303
    return client


def with_cookie(app, name, value):
    client = app.test_client()
    client.set_cookie(name, value)
    return client


def assert_signed_out(client):
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


ENDS_OTHER_SESSIONS = [
    ("/dashboard/settings/password", PASSWORDS),
    (
        "/dashboard/settings/email",
        {"new_email": "new@example.com", "email_password": "correct horse battery"},
    ),
    ("/dashboard/settings/sessions", {}),
]


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("url", "data"), ENDS_OTHER_SESSIONS)
def test_change_ends_every_other_session(app, dash, url, data, htmx):
    other = browser(app)
    remembered = browser(app, remember=True)
    old_remember = remembered.get_cookie(REMEMBER).value
    assert other.get("/dashboard").status_code == 200
    response = dash.post(url, data, htmx=htmx)
    assert response.status_code == (200 if htmx else 303), response.get_data(as_text=True)
    assert_signed_out(other)
    assert_signed_out(remembered)
    assert_signed_out(with_cookie(app, REMEMBER, old_remember))
    # The browser that made the change stays signed in, and its forms keep working.
    assert dash.get("/dashboard").status_code == 200
    notifications = {"notify_new_booking_email": "y", "reminder_hours": "2"}
    assert dash.post("/dashboard/settings/notifications", notifications).status_code == 303


def test_remembered_browser_that_ends_the_others_stays_remembered(app, dash):
    me = DashboardClient(browser(app, remember=True))
    old_remember = me.client.get_cookie(REMEMBER).value
    response = me.post("/dashboard/settings/sessions", {})
    assert response.status_code == 303
    new_remember = me.client.get_cookie(REMEMBER).value
    assert new_remember != old_remember
    assert with_cookie(app, REMEMBER, new_remember).get("/dashboard").status_code == 200
    assert_signed_out(with_cookie(app, REMEMBER, old_remember))
    assert_signed_out(dash.client)


def test_refused_password_change_ends_no_session(app, dash):
    other = browser(app)
    response = dash.post("/dashboard/settings/password", {**PASSWORDS, "current_password": "no"})
    assert response.status_code == 422
    assert other.get("/dashboard").status_code == 200


@pytest.mark.parametrize("htmx", [False, True])
def test_log_out_other_devices_section(app, dash, htmx):
    html = dash.get("/dashboard/settings", htmx=htmx).get_data(as_text=True)
    section = re.search(r'<section id="sessions".*?</section>', html, re.S)
    assert section, "no sessions section on the settings page"
    form = re.search(r"<form\b[^>]*>.*?</form>", section.group(0), re.S).group(0)
    assert 'method="post"' in form and 'action="/dashboard/settings/sessions"' in form
    assert 'hx-post="/dashboard/settings/sessions"' in form and 'name="csrf_token"' in form
    assert 'type="submit"' in form and "Log out other devices" in form
    assert 'href="#sessions"' in html or htmx

    other = browser(app)
    response = dash.post("/dashboard/settings/sessions", {}, htmx=htmx)
    body = response.get_data(as_text=True)
    if htmx:
        assert response.status_code == 200
        assert ("<html" in body) is False and 'id="sessions"' in body
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == "/dashboard/settings#sessions"
        body = dash.get("/dashboard/settings").get_data(as_text=True)
    assert "Every other device is logged out." in body
    assert last_audit(app).action == "account.sessions_ended"
    assert_signed_out(other)


def test_log_out_other_devices_needs_the_csrf_token(app, dash):
    other = browser(app)
    response = dash.client.post("/dashboard/settings/sessions", data={})
    assert response.status_code == 400
    assert other.get("/dashboard").status_code == 200
