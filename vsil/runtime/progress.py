"""Progress bars (tqdm) that stay quiet for short work and in non-interactive runs."""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm.auto import tqdm

MIN_ITEMS = 64


def progress(total: int, desc: str, enabled: bool | None = None) -> Any:
    """A tqdm bar, disabled for fewer than MIN_ITEMS items or when VSIL_PROGRESS=0."""
    if enabled is None:
        enabled = total >= MIN_ITEMS and os.environ.get("VSIL_PROGRESS", "1") != "0"
    return tqdm(total=total, desc=desc, disable=not enabled, file=sys.stderr, leave=False,
                unit="it", dynamic_ncols=True)
