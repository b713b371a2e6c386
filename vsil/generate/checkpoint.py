"""JSONL checkpoints: one file per step, one line per finished unit of work.

The first line is a header with the step's fingerprint (prompts, models, parameters). Each
further line is a `Record`: the unit's key, whether it was kept, the reason when it was
dropped, its output items and details. Lines are flushed and fsynced as they are written, so a
killed run loses at most the units in flight; a torn last line is cut off on the next open.
A re-run skips every key already in the file.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vsil._jsonable import dumps
from vsil._version import __version__


class CheckpointMismatch(ValueError):
    """The checkpoint was written with a different configuration of its step."""


@dataclass
class Record:
    """The outcome of one unit of work (an element, an item, an image group)."""

    key: str
    kept: bool
    reason: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Record:
        return cls(key=str(d["key"]), kept=bool(d["kept"]), reason=d.get("reason"),
                   outputs=list(d.get("outputs") or []), detail=dict(d.get("detail") or {}))


class Checkpoint:
    """The checkpoint file of one step."""

    def __init__(self, path: Path, step: str, fingerprint: str, *, verify: bool = True
                 ) -> None:
        self.path = Path(path)
        self.step = step
        self.fingerprint = fingerprint
        self.verify = verify
        self.records: dict[str, Record] = {}
        self.last_keys: list[str] = []
        self._open()

    def __repr__(self) -> str:
        return f"Checkpoint({self.path.name!r}, done={len(self.records)})"

    def _open(self) -> None:
        if not self.path.exists():
            return
        raw = self.path.read_bytes()
        good = 0
        lines = raw.split(b"\n")
        header: dict[str, Any] | None = None
        for i, line in enumerate(lines):
            if i == len(lines) - 1:  # after the last newline: empty, or a torn line
                break
            good += len(line) + 1
            if not line.strip():
                continue
            obj = json.loads(line)
            if "_header" in obj:
                header = obj["_header"]
                continue
            rec = Record.from_json(obj)
            self.records[rec.key] = rec
        if header is None and self.records:
            raise CheckpointMismatch(f"{self.path}: no header line")
        if self.verify and header is not None and header.get("fingerprint") != self.fingerprint:
            raise CheckpointMismatch(
                f"{self.path.name} was written with another configuration of step "
                f"{self.step!r} (prompts, models or parameters changed); re-run with "
                f"start_from={self.step!r} to redo it and the steps after it")
        if good < len(raw):  # cut a torn last line off
            with self.path.open("r+b") as f:
                f.truncate(good)

    def done(self, key: str) -> bool:
        """Whether ``key`` is finished. A unit dropped by a request failure (an outage, a
        rate limit past the retries) is recorded with ``detail["retry"]`` and runs again."""
        r = self.records.get(key)
        return r is not None and not r.detail.get("retry")

    def append(self, records: Iterable[Record]) -> None:
        """Write records (and the header, first) durably."""
        records = list(records)
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", encoding="utf-8") as f:
            if new:
                head = {"step": self.step, "fingerprint": self.fingerprint,
                        "vsil_version": __version__}
                f.write(json.dumps({"_header": head}) + "\n")
            for r in records:
                f.write(dumps(r.to_json(), ensure_ascii=False) + "\n")
                self.records[r.key] = r
            f.flush()
            os.fsync(f.fileno())

    def reset(self) -> None:
        """Forget everything (the file is removed)."""
        self.records.clear()
        self.path.unlink(missing_ok=True)

    def outputs(self, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Output items of the kept records among ``keys`` (default: all), in that order."""
        out: list[dict[str, Any]] = []
        for k in (self.records if keys is None else keys):
            r = self.records.get(k)
            if r is not None and r.kept:
                out.extend(r.outputs)
        return out

    def counts(self, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """Kept and dropped units, and the drop reasons (by their first clause)."""
        recs = list(self.records.values()) if keys is None else \
            [self.records[k] for k in keys if k in self.records]
        reasons = Counter(reason_class(r.reason) for r in recs if not r.kept)
        return {"units": len(recs), "kept": sum(r.kept for r in recs),
                "dropped": sum(not r.kept for r in recs),
                "items_out": sum(len(r.outputs) for r in recs if r.kept),
                "reasons": dict(reasons.most_common())}


def reason_class(reason: str | None) -> str:
    """A drop reason without its per-item detail: ``"mitigate: schema violation"``."""
    if not reason:
        return "unknown"
    parts = reason.split(": ")
    return ": ".join(parts[:2])
