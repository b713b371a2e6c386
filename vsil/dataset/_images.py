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


#: longest image path shown in an error message
_SHOWN = 120


def shown(path: str | os.PathLike[str]) -> str:
    """A path as error messages show it: repr'd (NUL and control characters visible), cut."""
    s = str(path)
    return repr(s if len(s) <= _SHOWN else s[:_SHOWN] + f"…[{len(s)} characters]")


def resolve_path(base: Path, relative: str | os.PathLike[str]) -> Path:
    """``relative`` resolved against ``base`` (an absolute path stays as it is).

    Paths that cannot be resolved at all (a NUL byte, a name too long for the file system, a
    symlink loop) raise `ImageError` naming the path.
    """
    try:
        candidate = Path(relative)
        if "\x00" in str(candidate):
            raise ValueError("embedded null byte")
        return (candidate if candidate.is_absolute() else base.resolve() / candidate).resolve()
    except (OSError, RuntimeError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        if isinstance(e, RuntimeError) or "loop" in why.lower():
            why = "symlink loop"
        raise ImageError(f"image path {shown(relative)} cannot be resolved: {why}") from None


def resolve_inside(root: Path, relative: str | os.PathLike[str]) -> Path:
    """Resolve ``relative`` under ``root``; refuse anything that escapes it (.., symlinks, /abs).

    Paths that cannot be resolved at all raise `ImageError` too (see `resolve_path`).
    """
    root_r = root.resolve()
    full = resolve_path(root_r, relative)
    if full != root_r and root_r not in full.parents:
        raise ImageError(
            f"path {shown(relative)} resolves outside the dataset root {str(root_r)!r}"
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

    @property
    def shown(self) -> str:
        """The label as error messages show it (cut, control characters visible)."""
        return shown(self.label)

    def _bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is not None:
            try:
                return self.path.read_bytes()
            except (OSError, ValueError) as e:
                why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
                raise ImageError(f"cannot read image {self.shown}: {why}") from None
        if self.pil is not None:
            buf = io.BytesIO()
            self.pil.save(buf, format="PNG")
            return buf.getvalue()
        raise ImageError("empty image reference")

    def open(self, max_side: int | None = None) -> PILImage:
        """The decoded image, converted to RGB; with ``max_side``, shrunk to fit a square of
        that side (JPEGs are then decoded at a reduced scale, which is much faster)."""
        from PIL import Image, UnidentifiedImageError

        if self.pil is not None:
            converted: PILImage = self.pil.convert("RGB")
            if max_side is not None:
                converted.thumbnail((max_side, max_side))
            return converted
        try:
            with Image.open(io.BytesIO(self._bytes())) as im:
                if max_side is not None:
                    im.draft("RGB", (max_side, max_side))
                im.load()
                rgb: PILImage = im.convert("RGB")
                if max_side is not None:
                    rgb.thumbnail((max_side, max_side))
                return rgb
        except ImageError:
            raise
        except Image.DecompressionBombError as e:
            raise ImageError(f"image {self.shown} is too large to decode safely: {e}") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, MemoryError,
                EOFError) as e:
            raise ImageError(f"corrupt or unreadable image {self.shown}: {e}") from None

    def check(self) -> None:
        """Cheap validity check: the file exists and its header decodes as an image."""
        from PIL import Image, UnidentifiedImageError

        if self.pil is not None:
            return
        try:
            exists = self.path is None or self.path.is_file()
        except (OSError, ValueError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ImageError(f"image path {self.shown} cannot be used: {why}") from None
        if not exists:
            raise ImageError(f"image file not found: {self.shown}")
        try:
            with Image.open(io.BytesIO(self._bytes())) as im:
                im.verify()
        except ImageError:
            raise
        except Image.DecompressionBombError as e:
            raise ImageError(f"image {self.shown} is too large to decode safely: {e}") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
            raise ImageError(f"corrupt or unreadable image {self.shown}: {e}") from None

    @property
    def sha256(self) -> str:
        cached = getattr(self, "_sha", None)
        if cached is None:
            cached = hashlib.sha256(self._bytes()).hexdigest()
            object.__setattr__(self, "_sha", cached)
        return cached  # type: ignore[no-any-return]

    def __str__(self) -> str:
        return self.label or (str(self.path) if self.path else "<image>")
