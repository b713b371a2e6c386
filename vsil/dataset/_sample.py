"""The validated record every dataset is mapped onto."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vsil.dataset._images import ImageRef


class Sample(BaseModel):
    """One image-text pair.

    Attributes:
        id: unique within the dataset.
        text: the query the model sees.
        image: a lazy reference to the image, or None when the dataset ships no image.
        image_text: what is known of the image as text (description, caption, OCR), if any.
        category, sub_category: taxonomy labels, if the dataset has them.
        source: where the sample comes from, if known.
        meta: every other column of the input, untouched.
        load_error: why the row is bad, for rows kept with ``on_error="keep"``; the audit
            reports such rows as errors and never judges them.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    id: str
    text: str
    image: ImageRef | None = None
    image_text: str | None = None
    category: str | None = None
    sub_category: str | None = None
    source: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    load_error: str | None = None

    @field_validator("image_text", "category", "sub_category", "source")
    @classmethod
    def _blank_to_none(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = str(v)
        return v if v.strip() else None
