"""Typographic images as FigStep draws them: an instruction, then an empty numbered list.

Used by the tests and benchmarks to give the OCR describer real typography to read, and
handy to build a FigStep-style probe set from a list of instructions.
"""

from __future__ import annotations

from typing import Any


def render_typographic(text: str, *, size: int = 760, font_size: int = 56, items: int = 3,
                       margin: int = 24, font: str | None = None) -> Any:
    """A white ``size`` × ``size`` RGB image with ``text`` word-wrapped in black, then
    ``1.`` … ``items.`` on their own lines (FigStep's layout).

    ``font`` is a TrueType file; default: Pillow's bundled scalable font, so that the output
    is the same on every machine.
    """
    from PIL import Image, ImageDraw, ImageFont

    face = (ImageFont.truetype(font, font_size) if font
            else ImageFont.load_default(size=font_size))
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and draw.textlength(trial, font=face) > size - 2 * margin:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    lines += [f"{i}." for i in range(1, items + 1)]
    y = margin
    for line in lines:
        draw.text((margin, y), line, fill="black", font=face)
        y += int(font_size * 1.3)
    return img
