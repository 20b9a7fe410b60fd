"""Photos of the job: what the widget takes (re-encoded, stripped, bounded) and refuses, who
may read them back, and that they work with the booking's signed token alone (no cookie)."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from peepopay.extensions import db
from peepopay.models import BookingPhoto
from tests.booking_helpers import SLUG, at, iso_z, local_day, service_id
from tests.fixtures.clients import Auth, DashboardClient
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)
from tests.test_widget import HX, details

BOOK = f"/book/{SLUG}"
GPS_IFD = 0x8825


def jpeg(size: tuple[int, int] = (64, 48), gps: bool = False) -> bytes:
    image = Image.new("RGB", size, (200, 40, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    if gps:
        exif[GPS_IFD] = {1: "S", 2: (36.0, 51.0, 0.0), 3: "E", 4: (174.0, 45.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def png(size: tuple[int, int] = (40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(out, "PNG")
    return out.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_bomb(edge: int = 100_000) -> bytes:
    """A few hundred bytes claiming 10 gigapixels: a decompression bomb."""
    header = struct.pack(">IIBBBBB", edge, edge, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def held(app, client, stripe_live):
    """A held booking: the widget's payment step address and the booking's token."""
    tradie_id = payments_tradie(app, stripe_live)
    data = {"service": service_id(app, tradie_id), "start": iso_z(at(local_day(), 10)), **details()}
    response = client.post(f"{BOOK}/hold", data=data)
    assert response.status_code == 303
    location = response.headers["Location"]
    token = urlsplit(location).path.rsplit("/", 1)[-1]
    return location, token


def upload(client, token: str, *files: tuple[bytes, str], htmx: bool = True, back: str = "pay"):
    fields = MultiDict([("back", back)])
    for content, name in files:
        fields.add("photo", FileStorage(io.BytesIO(content), filename=name))
    # Encoded in memory: the test client would spool a big body to a file it never closes.
    boundary, body = encode_multipart(fields)
    return client.post(
        f"{BOOK}/photos/{token}",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=HX if htmx else {},
    )


def stored(app) -> list[BookingPhoto]:
    with app.app_context():
        rows = db.session.scalars(sa.select(BookingPhoto).order_by(BookingPhoto.id)).all()
        db.session.expunge_all()
        return list(rows)


def files_under(app) -> list[Path]:
    return sorted(p for p in Path(app.config["PHOTO_DIR"]).rglob("*") if p.is_file())


def test_payment_step_offers_a_plain_file_input_with_progress(client, held):
    location, token = held
    html = client.get(location).get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html
    assert f'action="{BOOK}/photos/{token}"' in html
    assert 'type="file" name="photo"' in html and "multiple" in html
    assert 'hx-encoding="multipart/form-data"' in html and "<progress" in html


def test_gps_tagged_jpeg_is_reencoded_without_metadata(app, client, held):
    _, token = held
    original = jpeg(gps=True)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the GPS is there
    response = upload(client, token, (original, "IMG_0001.jpg"))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    [photo] = stored(app)
    assert re.fullmatch(r"[0-9a-f]{32}", photo.storage_key)
    assert (photo.width, photo.height) == (64, 48)
    for path in files_under(app):
        image = Image.open(io.BytesIO(path.read_bytes()))
        assert image.format == "JPEG"
        assert not image.getexif()  # no EXIF at all, so no GPS
        assert "exif" not in image.info
        assert b"PhoneMaker" not in path.read_bytes()
    html = response.get_data(as_text=True)
    thumb = re.search(r'<img src="([^"]+)"', html).group(1)
    assert thumb == f"{BOOK}/photos/{token}/{photo.id}"
    image = client.get(thumb)
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(image.get_data())).size == (64, 48)


def test_png_html_polyglot_is_sanitised(app, client, held):
    _, token = held
    polyglot = png() + b"<html><body><script>alert(document.domain)</script></body></html>"
    response = upload(client, token, (polyglot, "photo.png"))
    assert response.status_code == 200
    [display, thumb] = files_under(app)
    for path in (display, thumb):
        data = path.read_bytes()
        assert b"<script" not in data and b"<html" not in data
        assert data.startswith(b"\xff\xd8")  # a JPEG now, whatever was sent
    served = client.get(f"{BOOK}/photos/{token}/{stored(app)[0].id}")
    assert served.mimetype == "image/jpeg"
    assert "sandbox" in served.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (png_bomb(), "bomb.png", "too many pixels"),
        (b"\xff\xd8\xff" + b"0" * (15 * 1024 * 1024), "big.jpg", "at most 10 MB"),
        (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
            b"<script>alert(1)</script></svg>",
            "drawing.svg",
            "must be JPEG, PNG, WebP or HEIC",
        ),
        (b"GIF89a" + b"\x00" * 64, "anim.gif", "must be JPEG, PNG, WebP or HEIC"),
    ],
    ids=["decompression-bomb", "15-MB", "svg", "gif"],
)
def test_refused_uploads_store_nothing(app, client, held, content, name, message, htmx=True):
    _, token = held
    response = upload(client, token, (content, name))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'role="alert"' in html
    assert stored(app) == [] and files_under(app) == []


def test_a_path_in_the_file_name_goes_nowhere(app, client, held, tmp_path):
    _, token = held
    response = upload(client, token, (jpeg(), "../../x.jpg"))
    assert response.status_code == 200
    [photo] = stored(app)
    assert "x.jpg" not in photo.storage_key
    assert not list(tmp_path.rglob("x.jpg")) and not list(Path.cwd().rglob("x.jpg"))
    assert all(p.name.startswith(photo.storage_key) for p in files_under(app))


def test_without_the_bookings_token_nothing_is_taken_or_shown(app, client, held):
    _, token = held
    for bad in ("not-a-token", token[:-2] + "xx"):
        assert upload(client, bad, (jpeg(), "a.jpg")).status_code == 404
    assert stored(app) == []
    assert upload(client, token, (jpeg(), "a.jpg")).status_code == 200
    photo = stored(app)[0]
    assert client.get(f"{BOOK}/photos/not-a-token/{photo.id}").status_code == 404
    # Another booking's token reads none of this booking's photos.
    from peepopay.bookings.tokens import booking_token

    with app.test_request_context():
        other = booking_token(photo.booking_id + 1)
    assert client.get(f"{BOOK}/photos/{other}/{photo.id}").status_code == 404


def test_at_most_five_and_no_js_upload_returns_to_the_step(app, client, held):
    location, token = held
    response = upload(client, token, *[(png(), f"{i}.png") for i in range(3)], htmx=False)
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == urlsplit(location).path
    refused = upload(client, token, *[(jpeg(), f"{i}.jpg") for i in range(3)])
    assert refused.status_code == 422 and "at most 5 photos" in refused.get_data(as_text=True)
    assert len(stored(app)) == 3
    assert upload(client, token, (jpeg(), "4.jpg"), (jpeg(), "5.jpg")).status_code == 200
    html = client.get(location).get_data(as_text=True)
    assert "5 of 5 photos added" in html and 'type="file"' not in html


def test_the_tradie_sees_full_size_and_the_customer_thumbnails(app, client, held, fast_passwords):
    _, token = held
    upload(client, token, (jpeg(size=(2400, 1800)), "big.jpg"))
    [photo] = stored(app)
    dash_client = app.test_client()
    assert Auth(dash_client).login().status_code == 303
    dash = DashboardClient(dash_client)
    page = dash.get(f"/dashboard/bookings/{photo.booking_id}").get_data(as_text=True)
    display = f"/dashboard/bookings/{photo.booking_id}/photos/{photo.id}/display"
    assert display in page
    served = dash.get(display)
    assert served.status_code == 200
    assert Image.open(io.BytesIO(served.get_data())).size == (1600, 1200)
    assert client.get(display).status_code in (302, 401)  # not signed in
    with app.app_context():
        from peepopay.models import Booking

        public = db.session.get(Booking, photo.booking_id).public_token
    customer_page = client.get(f"/b/{public}").get_data(as_text=True)
    thumb = f"/b/{public}/photos/{photo.id}"
    assert thumb in customer_page
    small = client.get(thumb)
    assert small.status_code == 200
    assert max(Image.open(io.BytesIO(small.get_data())).size) == 320


def test_an_empty_file_input_asks_for_photos(app, client, held):
    _, token = held
    response = upload(client, token, (b"", ""))
    assert response.status_code == 422
    assert "Choose one or more photos first." in response.get_data(as_text=True)
    assert stored(app) == []
