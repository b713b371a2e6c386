"""Lazy image references that never follow a path outside the dataset root."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage


class ImageError(ValueError):
    """An image that cannot be used: missing, unreadable, corrupt or outside the root."""


def resolve_inside(root: Path, relative: str | os.PathLike[str]) -> Path:
    """Resolve ``relative`` under ``root``; refuse anything that escapes it (.., symlinks, /abs)."""
    root_r = root.resolve()
    candidate = Path(relative)
    full = (candidate if candidate.is_absolute() else root_r / candidate).resolve()
    if full != root_r and root_r not in full.parents:
        raise ImageError(
            f"path {str(relative)!r} resolves outside the dataset root {str(root_r)!r}"
        )
    return full


@dataclass(frozen=True, eq=False)
class ImageRef:
    """A reference to one image: a file inside the dataset root, raw bytes, or a PIL image.

    The image is opened only when asked (``open()``); results refer to images by ``label``
    and ``sha256``, never by their bytes.
    """

    path: Path | None = None
    data: bytes | None = None
    pil: Any = field(default=None, repr=False)
    label: str = ""

    @classmethod
    def from_path(cls, root: Path, relative: str) -> ImageRef:
        return cls(path=resolve_inside(root, relative), label=str(relative))

    def _bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is not None:
            try:
                return self.path.read_bytes()
            except OSError as e:
                raise ImageError(f"cannot read image {self.label!r}: {e.strerror or e}") from e
        if self.pil is not None:
            buf = io.BytesIO()
            self.pil.save(buf, format="PNG")
            return buf.getvalue()
        raise ImageError("empty image reference")

    def open(self) -> PILImage:
        """The decoded image, converted to RGB."""
        from PIL import Image, UnidentifiedImageError

        if self.pil is not None:
            converted: PILImage = self.pil.convert("RGB")
            return converted
        try:
            with Image.open(io.BytesIO(self._bytes())) as im:
                im.load()
                rgb: PILImage = im.convert("RGB")
                return rgb
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise ImageError(f"corrupt or unreadable image {self.label!r}: {e}") from e

    def check(self) -> None:
        """Cheap validity check: the file exists and its header decodes as an image."""
        from PIL import Image, UnidentifiedImageError

        if self.pil is not None:
            return
        if self.path is not None and not self.path.is_file():
            raise ImageError(f"image file not found: {self.label!r}")
        try:
            with Image.open(io.BytesIO(self._bytes())) as im:
                im.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise ImageError(f"corrupt or unreadable image {self.label!r}: {e}") from e

    @property
    def sha256(self) -> str:
        cached = getattr(self, "_sha", None)
        if cached is None:
            cached = hashlib.sha256(self._bytes()).hexdigest()
            object.__setattr__(self, "_sha", cached)
        return cached  # type: ignore[no-any-return]

    def __str__(self) -> str:
        return self.label or (str(self.path) if self.path else "<image>")
