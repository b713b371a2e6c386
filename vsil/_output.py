"""Writing what vsil produces: a text to an optional path, an output folder made on demand."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path


def written(text: str, path: str | os.PathLike[str] | None) -> str:
    """``text``, written to ``path`` (UTF-8) first when a path is given."""
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def output_dir(out_dir: str | os.PathLike[str]) -> Path:
    """``out_dir`` as a Path, created (with its parents) when missing."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def save_files(out_dir: str | os.PathLike[str],
               writers: Mapping[str, tuple[str, Callable[[Path], object]]]) -> dict[str, Path]:
    """Write each ``key: (file name, write(path))`` into ``out_dir``, in order; the paths."""
    out = output_dir(out_dir)
    paths = {key: out / name for key, (name, _) in writers.items()}
    for key, (_, write) in writers.items():
        write(paths[key])
    return paths
