"""Reading JSON, JSONL, CSV, Parquet files and HF imagefolder layouts into rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from vsil.dataset._errors import DataError

SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv",
            ".parquet": "parquet", ".pq": "parquet"}
IMAGEFOLDER_METADATA = ("metadata.jsonl", "metadata.csv", "metadata.parquet")


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not valid UTF-8 (byte {e.start}: {e.object[e.start:e.start + 4]!r}); "
            "re-encode the file as UTF-8"
        ) from e
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from e


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a data file, as dicts, in file order."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path}: unsupported file type {path.suffix!r}; expected one of {sorted(SUFFIXES)}"
        )
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    if kind == "json":
        try:
            data = json.loads(_read_text(path))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
        if isinstance(data, dict):
            # {"data": [...]} or {id: {...}, ...}
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) == 1 and all(isinstance(r, dict) for r in lists[0]):
                data = lists[0]
            elif all(isinstance(v, dict) for v in data.values()):
                data = [{"id": k, **v} if "id" not in v else dict(v) for k, v in data.items()]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DataError(f"{path}: expected a JSON list of objects")
        return data
    if kind == "jsonl":
        rows: list[dict[str, Any]] = []
        for n, line in enumerate(_read_text(path).splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{n}: invalid JSON: {e.msg}") from e
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{n}: expected a JSON object per line")
            rows.append(obj)
        return rows
    if kind == "csv":
        import io

        try:
            df = pd.read_csv(io.StringIO(_read_text(path)), dtype=str, keep_default_na=False)
        except pd.errors.ParserError as e:
            raise DataError(f"{path}: malformed CSV: {e}") from e
        except pd.errors.EmptyDataError as e:
            raise DataError(f"dataset {path.name!r} is empty") from e
        return df.to_dict(orient="records")  # type: ignore[return-value]
    try:
        df = pd.read_parquet(path)
    except Exception as e:
        raise DataError(f"{path}: cannot read Parquet: {e}") from e
    return df.to_dict(orient="records")  # type: ignore[return-value]


def imagefolder_metadata(root: Path) -> Path | None:
    for name in IMAGEFOLDER_METADATA:
        p = root / name
        if p.is_file():
            return p
    return None
