"""Photos of the job: what the widget takes (re-encoded, stripped, bounded) and refuses, who
may read them back, and that they work with the booking's signed token alone (no cookie)."""

from __future__ import annotations

import functools
import html as htmllib
import io
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from PIL import Image, ImageCms, PngImagePlugin
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from peepopay.extensions import db
from peepopay.models import Booking, BookingPhoto, Payment
from tests.booking_helpers import SLUG, at, iso_z, local_day, service_id
from tests.fixtures.clients import Auth, DashboardClient
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    Held,
    app_config,
    pay,
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
        (png_bomb(), "bomb.png", "at most 40 megapixels"),
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


SECRET = b"GPS -36.8485,174.7633 owner: Jane Customer"
SCRIPT = b"<script>alert(document.domain)</script>"


def jpeg_with_comment(comment: bytes) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 90, 30)).save(out, "JPEG", comment=comment)
    return out.getvalue()


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET.decode())
    info.add_itxt("Description", SECRET.decode(), lang="en", tkey="Beschreibung")
    info.add_text("Author", "Jane Customer", zip=True)  # zTXt
    out = io.BytesIO()
    Image.new("RGB", (40, 40), (20, 120, 200)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg_with_icc() -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 10)).save(out, "JPEG", icc_profile=profile)
    return out.getvalue()


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        (jpeg_with_comment(SECRET), "comment.jpg", [SECRET, b"Jane"]),
        (jpeg(gps=True), "gps.jpg", [b"PhoneMaker", b"Exif"]),
        (png_with_text(), "text.png", [SECRET, b"Jane", b"tEXt", b"iTXt", b"zTXt"]),
        (jpeg_with_icc(), "icc.jpg", [b"ICC_PROFILE", b"sRGB"]),
        # A JPEG whose comment is a page: a polyglot a browser might be talked into running.
        (jpeg_with_comment(b"<html><body>" + SCRIPT + b"</body></html>"), "poly.jpg", [SCRIPT]),
        (jpeg() + b"<html><body>" + SCRIPT + b"</body></html>", "tail.jpg", [SCRIPT, b"<html"]),
    ],
    ids=[
        "jpeg-comment",
        "exif-gps",
        "png-text-chunks",
        "icc-profile",
        "jpeg-html-polyglot",
        "tail",
    ],
)
def test_served_photos_carry_pixels_only(app, client, held, content, name, words):
    _, token = held
    assert all(word in content for word in words[:1])  # the sent file does carry it
    response = upload(client, token, (content, name))
    assert response.status_code == 200
    [photo] = stored(app)
    served = [path.read_bytes() for path in files_under(app)]
    served.append(client.get(f"{BOOK}/photos/{token}/{photo.id}").get_data())
    for data in served:
        for word in words:
            assert word not in data
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG"
        assert not set(image.info) & {"comment", "exif", "icc_profile", "xmp"}
        assert not image.applist or [marker for marker, _ in image.applist] == ["APP0"]


def test_exif_orientation_is_applied_before_the_metadata_goes(app, client, held):
    _, token = held
    image = Image.new("RGB", (60, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 30, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95)
    assert upload(client, token, (out.getvalue(), "sideways.jpg")).status_code == 200
    [photo] = stored(app)
    assert (photo.width, photo.height) == (20, 60)
    served = Image.open(io.BytesIO(client.get(f"{BOOK}/photos/{token}/{photo.id}").get_data()))
    assert served.size == (20, 60) and not served.getexif()
    assert served.getpixel((10, 5))[0] > 200 and served.getpixel((10, 55))[0] < 50


@functools.cache
def png_of_pixels(width: int, height: int) -> bytes:
    """A real, decodable all-black RGB PNG, compressed row by row: a few hundred KB."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * width)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


SIXTY_MP = (10_000, 6_000)


def test_a_60_megapixel_png_is_refused_naming_the_field(app, client, held):
    _, token = held
    bomb = png_of_pixels(*SIXTY_MP)
    assert len(bomb) < 400_000
    response = upload(client, token, (bomb, "huge.png"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "at most 40 megapixels" in html and 'role="alert"' in html
    assert stored(app) == [] and files_under(app) == []


MEASURE = """
import resource, sys
from pathlib import Path
from peepopay.bookings import photos
bomb = Path(sys.argv[1]).read_bytes()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    photos.prepare(bomb)
    print("TAKEN")
except photos.PhotoRefused as refused:
    print("REFUSED", refused.field, refused.message)
print("GROWTH_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_refusing_a_60_megapixel_png_takes_little_memory(tmp_path):
    """Refused from the header: the peak memory of the process hardly moves (decoding it
    took 970 MB)."""
    bomb = tmp_path / "huge.png"
    bomb.write_bytes(png_of_pixels(*SIXTY_MP))
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(bomb)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    lines = run.stdout.splitlines()
    assert lines[0].startswith("REFUSED photos ") and "40 megapixels" in lines[0]
    growth_kb = int(lines[1].split()[1])
    assert growth_kb < 100 * 1024, f"peak memory grew {growth_kb // 1024} MB"


def test_photos_can_be_added_on_the_confirmation_step_after_paying(app, client, held, stripe_live):
    """The customer pays first and finds the photos afterwards: the confirmation step offers
    the same form, with the booking's token alone (no cookie), and comes back to itself."""
    location, token = held
    payment_page = htmllib.unescape(client.get(location).get_data(as_text=True))
    intent = re.search(
        r"/hosted/elements/(pi_\w+)\?client_secret=(pi_\w+_secret_\w+)", payment_page
    )
    assert intent is not None
    pay(stripe_live, Held(0, intent[1], intent[2], ""))

    done_url = f"{BOOK}/done/{token}"
    done = client.get(done_url)
    page = htmllib.unescape(done.get_data(as_text=True))
    assert "You're booked" in page
    assert f'action="{BOOK}/photos/{token}"' in page and 'type="file" name="photo"' in page
    assert '<input type="hidden" name="back" value="done">' in page
    assert "Set-Cookie" not in done.headers

    # Without JavaScript the form posts and the confirmation step comes back.
    posted = upload(client, token, (jpeg(), "kitchen.jpg"), htmx=False, back="done")
    assert posted.status_code == 303 and "Set-Cookie" not in posted.headers
    assert urlsplit(posted.headers["Location"]).path == done_url
    (photo,) = stored(app)
    with app.app_context():
        paid = db.session.scalar(
            sa.select(Payment).where(Payment.stripe_payment_intent_id == intent[1])
        )
        assert paid is not None and photo.booking_id == paid.booking_id
        booking = db.session.get(Booking, paid.booking_id)
        assert booking is not None and booking.status == "confirmed"
        db.session.remove()
    again = htmllib.unescape(client.get(done_url).get_data(as_text=True))
    assert "You're booked" in again and "1 of 5 photos added" in again
    assert f"{BOOK}/photos/{token}/{photo.id}" in again
    # With htmx the section swaps in place.
    fragment = upload(client, token, (png(), "roof.png"), back="done")
    assert fragment.status_code == 200 and "2 of 5 photos added" in fragment.get_data(True)
    assert "You're booked" not in fragment.get_data(True)
    assert len(stored(app)) == 2
