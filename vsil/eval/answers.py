"""Append-only JSONL stores for answers and judgements, written as results arrive.

Each finished item is one line, flushed at once, so a killed run loses at most the items in
flight. Reading tolerates a torn last line. When an id appears more than once (a retried
error), the last line wins, except that an error never replaces a good record.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from vsil._jsonable import dumps


def now() -> str:
    """UTC timestamp, ISO 8601, seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class JsonlStore:
    """One JSONL file keyed by ``id``; records with an ``error`` key are failures."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh: IO[str] | None = None

    def load(self) -> dict[str, dict[str, Any]]:
        """The latest record per id (a good record beats any later error)."""
        out: dict[str, dict[str, Any]] = {}
        if not self.path.is_file():
            return out
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line torn by a kill
                if not isinstance(rec, dict) or "id" not in rec:
                    continue
                key = str(rec["id"])
                old = out.get(key)
                if old is not None and old.get("error") is None and rec.get("error") is not None:
                    continue
                out[key] = rec
        return out

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line and flush it."""
        line = dumps(record, ensure_ascii=False)
        with self._lock:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._repair_tail()
                self._fh = self.path.open("a", encoding="utf-8")
            self._fh.write(line + "\n")
            self._fh.flush()

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        for r in records:
            self.append(r)

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def _repair_tail(self) -> None:
        """End a torn last line with a newline so the next record starts on its own line."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb+") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")

    def __enter__(self) -> JsonlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
