"""Images as ``data:`` URLs for chat requests, re-encoded only when too large."""

from __future__ import annotations

import base64
import io

from vsil.dataset import ImageRef

#: longest side sent; larger images are downscaled and re-encoded as JPEG
MAX_SIDE = 1536
#: largest encoded image sent as is (bytes)
MAX_BYTES = 4_000_000
_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


def image_data_url(ref: ImageRef, *, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES,
                   quality: int = 90) -> str:
    """The image as a data URL: original bytes when small enough in a common format, else a
    downscaled RGB JPEG. Raises `vsil.dataset.ImageError` for unreadable images."""
    from PIL import Image

    im = ref.open()
    raw: bytes | None = None
    fmt: str | None = None
    if ref.pil is None:
        try:
            raw = ref._bytes()
            with Image.open(io.BytesIO(raw)) as probe:
                fmt = probe.format
        except Exception:
            raw = None
    if raw is not None and fmt in _MIME and len(raw) <= max_bytes \
            and max(im.size) <= max_side:
        return f"data:{_MIME[fmt]};base64," + base64.b64encode(raw).decode("ascii")
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
