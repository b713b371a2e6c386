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
    """Rows of a data file, as dicts, in file order; DataError at the first bad row."""
    rows, errors = read_rows_and_errors(path)
    if errors:
        pos = min(errors)
        raise DataError(f"{path.parent}/{errors[pos]}")
    return rows


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def read_rows_and_errors(path: Path) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """Rows of a data file, as dicts, in file order, and the rows that could not be read.

    A JSONL line that is not a JSON object (invalid, nested too deeply, not an object) is
    still a row (an empty dict) and its position maps to the reason in the second value, so
    the caller reports it as that row's load error. Lines are split on newlines only: U+2028,
    U+0085 and other Unicode line breaks inside strings are data.
    """
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path}: unsupported file type {path.suffix!r}; expected one of {sorted(SUFFIXES)}"
        )
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    if kind == "json":
        try:
            data = _loads(_read_text(path))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
        except ValueError as e:
            raise DataError(f"{path}: invalid JSON: {e}") from e
        if isinstance(data, dict):
            # {"data": [...]} or {id: {...}, ...}
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) == 1 and all(isinstance(r, dict) for r in lists[0]):
                data = lists[0]
            elif all(isinstance(v, dict) for v in data.values()):
                data = [{"id": k, **v} if "id" not in v else dict(v) for k, v in data.items()]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DataError(f"{path}: expected a JSON list of objects")
        return data, {}
    if kind == "jsonl":
        rows: list[dict[str, Any]] = []
        errors: dict[int, str] = {}
        for n, line in enumerate(_read_text(path).split("\n"), 1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            try:
                obj = _loads(line)
            except json.JSONDecodeError as e:
                errors[len(rows)] = f"{path.name}:{n}: invalid JSON: {e.msg} (column {e.colno})"
                obj = {}
            except ValueError as e:
                errors[len(rows)] = f"{path.name}:{n}: invalid JSON: {e}"
                obj = {}
            if not isinstance(obj, dict):
                errors[len(rows)] = (f"{path.name}:{n}: expected a JSON object, "
                                      f"got {type(obj).__name__}")
                obj = {}
            rows.append(obj)
        return rows, errors
    if kind == "csv":
        import io

        try:
            df = pd.read_csv(io.StringIO(_read_text(path)), dtype=str, keep_default_na=False)
        except pd.errors.ParserError as e:
            raise DataError(f"{path}: malformed CSV: {e}") from e
        except pd.errors.EmptyDataError as e:
            raise DataError(f"dataset {path.name!r} is empty") from e
        return df.to_dict(orient="records"), {}  # type: ignore[return-value]
    try:
        df = pd.read_parquet(path)
    except Exception as e:
        raise DataError(f"{path}: cannot read Parquet: {e}") from e
    return df.to_dict(orient="records"), {}  # type: ignore[return-value]


def imagefolder_metadata(root: Path) -> Path | None:
    for name in IMAGEFOLDER_METADATA:
        p = root / name
        if p.is_file():
            return p
    return None
