"""Errors for bad input data. Every bad row is reported, none is dropped silently."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RowError:
    """One bad row: its id (or position when it has none) and why it is bad."""

    id: str
    reason: str
    position: int | None = None

    def __str__(self) -> str:
        where = f"row {self.position}" if self.position is not None else "dataset"
        return f"{where} (id={self.id!r}): {self.reason}"


class DataError(ValueError):
    """Input data that vsil cannot use as given. ``errors`` lists every bad row."""

    def __init__(self, message: str, errors: list[RowError] | None = None) -> None:
        self.errors: list[RowError] = list(errors or [])
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        if not self.errors:
            return self.message
        shown = "\n".join(f"  - {e}" for e in self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        return f"{self.message} ({len(self.errors)} bad rows):\n{shown}{more}"
