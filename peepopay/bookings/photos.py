"""Customers' photos of the job: recognised by content, re-encoded, stored behind a small
storage interface, and read back only by whoever the caller has already found entitled.

Nothing a client sends is kept as sent: the bytes are decoded by Pillow (JPEG, PNG, WebP,
HEIC through pillow-heif) after the pixel count in the header is checked, turned upright,
and their pixels alone copied into a new image written as JPEG, in a display size and a
thumbnail: no EXIF, GPS, XMP, ICC, comment or text chunk, and no bytes of a polyglot's other
half. The file name a client gave is never used; files are named by a random key.
"""

from __future__ import annotations

import io
import re
import secrets
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pillow_heif
import sqlalchemy as sa
from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

from peepopay.bookings.models import ACTIVE_STATUSES, Booking, BookingPhoto, Status
from peepopay.db_setup import DbSession
from peepopay.errors import RuleRefused

pillow_heif.register_heif_opener()

MAX_PHOTOS = 5
MAX_BYTES = 10 * 1024 * 1024
# Above what a phone's camera writes by default (12-24 MP; 48 MP sensors save 12 MP unless
# asked). Refused from the header, before a pixel is decoded: a 175 KB PNG of 60 MP took
# 970 MB to decode. Pillow's own bomb bound is set to it too, its warning made a refusal.
MAX_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
DISPLAY_EDGE = 1600
THUMB_EDGE = 320
VARIANTS = ("display", "thumb")
KEY = re.compile(r"[0-9a-f]{32}")


class PhotoRefused(RuleRefused):
    """A photo that is not taken (422): not a photo, too big, too many."""

    def __init__(self, message: str) -> None:
        super().__init__("photos", message)


@dataclass(frozen=True)
class Prepared:
    """A photo re-encoded: JPEG bytes without metadata, in two sizes."""

    display: bytes
    thumb: bytes
    width: int
    height: int


class PhotoStore(Protocol):
    """Where photo files live; `key` is random and `variant` one of VARIANTS."""

    def save(self, key: str, variant: str, data: bytes) -> None: ...

    def read(self, key: str, variant: str) -> bytes | None: ...

    def delete(self, key: str) -> None: ...


class LocalPhotoStore:
    """Files under one folder (the instance folder's `photos` by default)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, key: str, variant: str) -> Path:
        # Keys and variants are ours, but the check keeps any other string off the disk.
        if not KEY.fullmatch(key) or variant not in VARIANTS:
            raise ValueError("not a photo key")
        return self.root / key[:2] / f"{key}-{variant}.jpg"

    def save(self, key: str, variant: str, data: bytes) -> None:
        path = self._path(key, variant)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def read(self, key: str, variant: str) -> bytes | None:
        path = self._path(key, variant)
        return path.read_bytes() if path.is_file() else None

    def delete(self, key: str) -> None:
        for variant in VARIANTS:
            self._path(key, variant).unlink(missing_ok=True)


def configured_store() -> PhotoStore:
    """The app's photo store: files under PHOTO_DIR (the instance folder's `photos`)."""
    return LocalPhotoStore(current_app.config["PHOTO_DIR"])


def _jpeg(image: Image.Image, edge: int) -> bytes:
    copy = image.copy()
    copy.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    # A new image gets the pixels and nothing else: Pillow's JPEG writer would otherwise copy
    # `info` (a JPEG comment, an ICC profile) from the decoded one into the file it writes.
    clean = Image.new("RGB", copy.size)
    clean.paste(copy)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()


def _too_many_pixels(pixels: int | None = None) -> PhotoRefused:
    size = f"; that one has {pixels / 1_000_000:.0f}" if pixels else ""
    return PhotoRefused(
        f"Each photo must be at most {MAX_PIXELS // 1_000_000} megapixels{size}. "
        "Please send a smaller one."
    )


def prepare(data: bytes) -> Prepared:
    """Re-encode an uploaded photo; PhotoRefused says why one is not taken."""
    if len(data) > MAX_BYTES:
        raise PhotoRefused(f"Each photo must be at most {MAX_BYTES // (1024 * 1024)} MB.")
    if not data:
        raise PhotoRefused("That file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            if image.width * image.height > MAX_PIXELS:
                raise _too_many_pixels(image.width * image.height)
            # JPEG decodes straight to a reduced size: far less memory for a big photo.
            image.draft("RGB", (DISPLAY_EDGE * 2, DISPLAY_EDGE * 2))
            image.load()
            upright = ImageOps.exif_transpose(image)
    except PhotoRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise PhotoRefused("Photos must be JPEG, PNG, WebP or HEIC pictures.") from None
    rgb = upright.convert("RGB")
    return Prepared(_jpeg(rgb, DISPLAY_EDGE), _jpeg(rgb, THUMB_EDGE), rgb.width, rgb.height)


def photos_of(session: DbSession, booking_id: int) -> list[BookingPhoto]:
    return list(
        session.scalars(
            sa.select(BookingPhoto)
            .where(BookingPhoto.booking_id == booking_id)
            .order_by(BookingPhoto.id)
        )
    )


def accepts_photos(booking: Booking, now: datetime) -> bool:
    """Photos join a booking while it is held or confirmed and its job is still ahead."""
    held = booking.status in ACTIVE_STATUSES
    if booking.status == Status.PENDING_PAYMENT and booking.hold_expires_at is not None:
        held = booking.hold_expires_at > now
    return held and booking.ends_at > now


def add_photos(
    session: DbSession, store: PhotoStore, booking: Booking, files: list[bytes], now: datetime
) -> list[BookingPhoto]:
    """Take each file as a photo of the booking; refuse all of them (PhotoRefused) when one
    is not a photo, or when they would make more than MAX_PHOTOS."""
    if not accepts_photos(booking, now):
        raise PhotoRefused("Photos can't be added to this booking any more.")
    have = len(photos_of(session, booking.id))
    if have + len(files) > MAX_PHOTOS:
        raise PhotoRefused(f"A booking takes at most {MAX_PHOTOS} photos; it has {have}.")
    prepared = [prepare(data) for data in files]
    added = []
    for photo in prepared:
        key = secrets.token_hex(16)
        store.save(key, "display", photo.display)
        store.save(key, "thumb", photo.thumb)
        row = BookingPhoto(
            booking_id=booking.id,
            storage_key=key,
            width=photo.width,
            height=photo.height,
            size_bytes=len(photo.display),
            created_at=now,
        )
        session.add(row)
        added.append(row)
    session.flush()
    return added


def photo_bytes(
    session: DbSession, store: PhotoStore, booking: Booking, photo_id: int, variant: str
) -> bytes | None:
    """The file of one of this booking's photos, or None (another booking's looks missing)."""
    photo = session.get(BookingPhoto, photo_id)
    if photo is None or photo.booking_id != booking.id or variant not in VARIANTS:
        return None
    return store.read(photo.storage_key, variant)


def delete_files(session: DbSession, store: PhotoStore, tradie_id: int) -> int:
    """Remove the files of every photo of the tradie's bookings (their rows go by cascade)."""
    keys = session.scalars(
        sa.select(BookingPhoto.storage_key)
        .join(Booking, Booking.id == BookingPhoto.booking_id)
        .where(Booking.tradie_id == tradie_id)
    ).all()
    for key in keys:
        store.delete(key)
    return len(keys)
