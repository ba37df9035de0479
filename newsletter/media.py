"""Images uploaded in the admin: checked, re-encoded, stored, served by the app itself.

An upload is decoded with Pillow (JPEG, PNG, GIF or WebP only; SVG and anything else are
refused), turned upright (EXIF orientation), resized to at most `MEDIA_MAX_WIDTH` pixels
wide keeping its aspect, and written anew from its pixels alone: no EXIF (camera, GPS
position, date), no XMP, no comments, no colour profile (converted to sRGB first). The
stored name is the SHA-256 of the stored bytes (content-addressed: the same image
uploaded twice is one file, and a name never points to other bytes), so `/media/<name>`
can be cached for a year. Mail links to `BASE_URL/media/<name>`: no third party sees
who opens a message (docs/MEDIA.md).

Storage sits behind one interface, `MediaStorage`; `MEDIA_STORAGE` chooses the
implementation (`local`: a folder, `instance/media` unless `MEDIA_FOLDER` says
otherwise). Another one (an S3 bucket) is a class with the same four methods, added to
`STORAGES`.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select

from . import audit, links
from .extensions import db
from .models import Campaign, Media

UPLOAD = "media.upload"
DELETE = "media.delete"

ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png"}
NAME = re.compile(r"^[0-9a-f]{32}\.(?:jpg|png)$")
MAX_ALT_LENGTH = 300


class MediaError(Exception):
    """An upload or deletion that cannot be done; the text says why and what to do."""


# --- storage -----------------------------------------------------------------------------


class MediaStorage(Protocol):
    """Where the stored images live. Names are checked (`NAME`) before any call."""

    def save(self, name: str, data: bytes, content_type: str) -> None:
        """Store `data` under `name` (replacing nothing else; the same name is the same
        bytes)."""

    def read(self, name: str) -> bytes | None:
        """The bytes stored under `name`, or None."""

    def delete(self, name: str) -> None:
        """Remove `name`; nothing happens when it is not there."""

    def exists(self, name: str) -> bool:
        """Whether `name` is stored."""


class LocalFolderStorage:
    """Images as files in one folder (written to a temporary file, then renamed)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        if not NAME.fullmatch(name):
            raise MediaError(f"not a media name: {name[:80]!r}")
        return self.root / name

    def save(self, name: str, data: bytes, content_type: str) -> None:
        path = self._path(name)
        self.root.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def read(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()


def _local(config) -> MediaStorage:
    folder = config.get("MEDIA_FOLDER") or Path(current_app.instance_path) / "media"
    return LocalFolderStorage(Path(folder))


# MEDIA_STORAGE -> a factory taking the configuration.
STORAGES = {"local": _local}


def storage() -> MediaStorage:
    """The storage chosen by MEDIA_STORAGE (one per app)."""
    cache = current_app.extensions.setdefault("newsletter", {})
    found = cache.get("media_storage")
    if found is None:
        kind = current_app.config.get("MEDIA_STORAGE") or "local"
        if kind not in STORAGES:
            raise MediaError(
                f"NEWSLETTER_MEDIA_STORAGE is {kind!r}; known storages: {', '.join(STORAGES)}"
            )
        found = cache["media_storage"] = STORAGES[kind](current_app.config)
    return found


# --- the image itself ----------------------------------------------------------------------


@dataclass(frozen=True)
class CleanImage:
    """An image as it will be stored: re-encoded bytes without metadata."""

    data: bytes
    extension: str
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.extension]

    @property
    def name(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:32] + "." + self.extension


def _refuse_not_an_image(data: bytes, filename: str) -> None:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head:
        raise MediaError(
            f"{filename} is an SVG drawing: SVG is not accepted (it can carry scripts, and "
            "Gmail and Outlook do not show it). Export it as PNG and upload that."
        )


def clean_image(data: bytes, filename: str = "the file") -> CleanImage:
    """Decode, check, turn upright, resize, convert to sRGB and re-encode `data`.

    Refuses (MediaError, with what to do) what is not a JPEG, PNG, GIF or WebP image,
    an SVG, a damaged file and an image of more than MEDIA_MAX_PIXELS pixels.
    """
    config = current_app.config
    max_width, max_pixels = int(config["MEDIA_MAX_WIDTH"]), int(config["MEDIA_MAX_PIXELS"])
    _refuse_not_an_image(data, filename)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            source = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            width, height = source.size
            if width * height > max_pixels:
                raise MediaError(
                    f"{filename} is {width} × {height} pixels, more than the "
                    f"{max_pixels:,} allowed (NEWSLETTER_MEDIA_MAX_PIXELS): make it "
                    "smaller before uploading it."
                )
            fmt = source.format
            if fmt == "JPEG":  # decode at a reduced scale when the image is far too big
                source.draft("RGB", (max_width, max_width))
            source.load()
            image = ImageOps.exif_transpose(source)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(
            f"{filename} has more pixels than this app decodes "
            f"(NEWSLETTER_MEDIA_MAX_PIXELS, {max_pixels:,}): make it smaller before uploading it."
        ) from None
    except UnidentifiedImageError:
        raise MediaError(
            f"{filename} is not an image this app accepts: upload a JPEG, PNG, GIF or WebP "
            "image (photos as JPEG, logos as PNG)."
        ) from None
    except (OSError, ValueError, SyntaxError):
        raise MediaError(
            f"{filename} could not be read as an image (damaged or cut short): export it "
            "again and upload the new file."
        ) from None
    return _encode(_to_srgb(image), fmt, max_width)


def _to_srgb(image: Image.Image) -> Image.Image:
    """The pixels in sRGB, with no colour profile attached (the profile is metadata too)."""
    profile = image.info.get("icc_profile")
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    image = image.convert("RGBA" if has_alpha else "RGB")
    if profile:
        try:
            from PIL import ImageCms  # Pillow built with Little CMS (the wheels are)

            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            image = ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode=image.mode
            )
        except Exception:  # noqa: BLE001 - ImportError, PyCMSError, a malformed profile
            pass  # a broken profile, or no Little CMS: keep the pixels as they are
    return image


def _encode(image: Image.Image, fmt: str, max_width: int) -> CleanImage:
    if image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    # Only the pixels: a new image has no info (EXIF, XMP, comments, ICC, text chunks).
    fresh = Image.new(image.mode, image.size)
    fresh.paste(image)
    out = io.BytesIO()
    photo = image.mode == "RGB" and fmt in ("JPEG", "WEBP")
    if photo:
        fresh.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    else:
        fresh.save(out, "PNG", optimize=True)
    return CleanImage(out.getvalue(), "jpg" if photo else "png", fresh.width, fresh.height)


# --- the library ---------------------------------------------------------------------------


def clean_alt(alt: str | None) -> str:
    """The alt text, one line; refused when empty (it is what a reader sees, or hears,
    while images are blocked)."""
    text = " ".join((alt or "").split())
    if not text:
        raise MediaError(
            "Describe the image in the alt text: mail programs show it while images are "
            "blocked, and screen readers read it aloud."
        )
    if len(text) > MAX_ALT_LENGTH:
        raise MediaError(f"The alt text is longer than {MAX_ALT_LENGTH} characters.")
    if any(c in text for c in "[]"):
        raise MediaError("The alt text cannot contain [ or ] (they end a Markdown image).")
    return text


def upload_limit() -> int:
    """The largest upload accepted, in bytes (MEDIA_MAX_UPLOAD_BYTES)."""
    return int(current_app.config["MEDIA_MAX_UPLOAD_BYTES"])


def upload(data: bytes, filename: str, alt: str | None, actor) -> tuple[Media, bool]:
    """Store an uploaded image and its Media row (flushed). Returns (row, created):
    the same image uploaded again is the row already there."""
    limit = upload_limit()
    filename = (filename or "").replace("\\", "/").rsplit("/", 1)[-1][:80] or "the file"
    alt = clean_alt(alt)
    if not data:
        raise MediaError("Choose an image file to upload.")
    if len(data) > limit:
        raise MediaError(
            f"{filename} is larger than {limit / 1e6:.0f} MB, the most this app accepts "
            "(NEWSLETTER_MEDIA_MAX_UPLOAD_BYTES): make it smaller before uploading it."
        )
    image = clean_image(data, filename)
    existing = db.session.scalar(select(Media).where(Media.name == image.name))
    if existing is not None:
        if not storage().exists(existing.name):
            storage().save(image.name, image.data, image.content_type)
        return existing, False
    storage().save(image.name, image.data, image.content_type)
    row = Media(
        name=image.name,
        alt=alt,
        content_type=image.content_type,
        width=image.width,
        height=image.height,
        size_bytes=len(image.data),
        uploaded_by=audit.actor_name(actor)[:320],
    )
    db.session.add(row)
    db.session.flush()
    audit.record(actor, UPLOAD, image.name, width=image.width, height=image.height)
    return row, True


def url(name: str) -> str:
    """The image's absolute address in mail and pages: BASE_URL/media/<name>."""
    return links.public_url("media.serve", name=name)


def markdown_snippet(row: Media) -> str:
    """What to paste into a campaign body: ![alt](BASE_URL/media/NAME)."""
    return f"![{row.alt}]({url(row.name)})"


def used_in(name: str) -> list[Campaign]:
    """The campaigns whose text shows this image."""
    return list(
        db.session.scalars(
            select(Campaign).where(Campaign.body_markdown.contains(name)).order_by(Campaign.id)
        )
    )


def delete(row: Media, actor) -> str:
    """Delete the image's row (flushed) and the logo setting that names it; returns the
    name, whose file the caller removes after the commit (`remove_file`). Mail already
    sent that shows it then shows its alt text instead; the view asks first when a
    campaign uses it."""
    from . import branding

    name = row.name
    branding.forget_logo(name)
    db.session.delete(row)
    db.session.flush()
    audit.record(actor, DELETE, name)
    return name


def remove_file(name: str) -> None:
    """Remove a stored image whose row is gone (after the commit)."""
    if by_name(name) is None:
        storage().delete(name)


def library() -> list[Media]:
    """Every image, newest first."""
    return list(db.session.scalars(select(Media).order_by(Media.uploaded_at.desc(), Media.id)))


def by_name(name: str) -> Media | None:
    return db.session.scalar(select(Media).where(Media.name == name))
