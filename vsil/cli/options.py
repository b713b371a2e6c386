"""The command-line options shared by commands, declared once.

`AuditArgs` holds the ~18 options of `vsil audit` and `vsil filter` (judge, overlap,
describe, loading, cache); `audit_options` adds them to a command, which receives them as one
``args: AuditArgs``. The converters (`overlaps`, `describe_arg`, `cache_arg`) and
`write_rows` serve every command that audits or writes rows (`vsil rewrite` too).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import typer

from vsil._jsonable import dumps

ROW_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".pq")

DataArg = typer.Argument(..., help="A file (JSON/JSONL/CSV/Parquet), an imagefolder directory, "
                         "or a dataset name (see `vsil datasets`).")


def _opt(*decls: str, **kw: Any) -> dict[str, Any]:
    """A field's metadata: how its typer option is declared (the default is the field's)."""
    return {"decls": decls, "kw": kw}


@dataclass(frozen=True)
class AuditArgs:
    """The options of `vsil audit` and `vsil filter`, as given on the command line."""

    judge: str = field(default="embedded", metadata=_opt(
        "--judge", "-j", help="Judge: embedded | llamaguard4 | llamaguard3-vision | "
        "llamaguard3-8b | shieldgemma2 | openai:MODEL | openai-moderation | proguard | "
        "qwen3guard | shieldstral | llamaguard3:PATH (see `vsil detectors`)."))
    text_judge: str | None = field(default=None, metadata=_opt(
        "--text-judge", help="A different judge for J(T)."))
    image_judge: str = field(default="auto", metadata=_opt(
        "--image-judge", help="Judge of J(I), the image alone, behind harm_source: auto (the "
        "J(T) judge on the image's text) | a judge name (on pixels when it sees them) | none."))
    base_url: str | None = field(default=None, metadata=_opt(
        "--base-url", help="Base URL of an OpenAI-compatible judge (else OPENAI_BASE_URL; "
        "the key is read from OPENAI_API_KEY)."))
    judge_preset: str | None = field(default=None, metadata=_opt(
        "--judge-preset", help="Prompt preset of an OpenAI-compatible judge: paper-gpt4o | "
        "llamaguard | llamaguard4 | proguard | qwen3guard | shieldstral."))
    judge_concurrency: int | None = field(default=None, metadata=_opt(
        "--judge-concurrency", help="Requests in flight for an HTTP judge (default: "
        "adaptive, 16 growing to 128, halved on 429/5xx)."))
    judge_max_retries: int | None = field(default=None, metadata=_opt(
        "--judge-max-retries", min=0, help="Retries per request for an HTTP judge (default 5)."))
    overlap: str = field(default="embedding,lexical", metadata=_opt(
        "--overlap", help="Comma-separated overlap scorers, or 'none'."))
    describe: str = field(default="auto", metadata=_opt(
        "--describe", help="auto | off | on | comma-separated describer names."))
    image_root: Path | None = field(default=None, metadata=_opt(
        "--image-root", help="Directory image paths are relative to."))
    root: Path | None = field(default=None, metadata=_opt(
        "--root", help="Local root of a named dataset."))
    variant: str | None = field(default=None, metadata=_opt(
        "--variant", help="Text variant of a named dataset."))
    on_error: str | None = field(default=None, metadata=_opt(
        "--on-error", help="raise | skip | keep (bad input rows)."))
    text: str | None = field(default=None, metadata=_opt(
        "--text", help="Column holding the query text."))
    image: str | None = field(default=None, metadata=_opt(
        "--image", help="Column holding the image path."))
    image_text: str | None = field(default=None, metadata=_opt(
        "--image-text", help="Column holding the image description."))
    no_cache: bool = field(default=False, metadata=_opt(
        "--no-cache", help="Do not read or write the disk cache."))
    cache: Path | None = field(default=None, metadata=_opt(
        "--cache", help="Cache file or directory (default ~/.cache/vsil)."))
    retry_errors: bool = field(default=False, metadata=_opt(
        "--retry-errors", help="Ask again for the failures kept in the cache (input, parse "
        "and refusal failures; transient and environment failures are never cached)."))

    def load_kwargs(self) -> dict[str, Any]:
        """The `vsil.load` arguments that were given."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in (
            ("image_root", self.image_root), ("root", self.root), ("variant", self.variant),
            ("on_error", self.on_error), ("text", self.text), ("image", self.image),
            ("image_text", self.image_text)) if v is not None}

    def judge_options(self) -> dict[str, Any]:
        """The options of a judge given by name that were given."""
        return {k: v for k, v in (("base_url", self.base_url), ("preset", self.judge_preset),
                                  ("concurrency", self.judge_concurrency),
                                  ("max_retries", self.judge_max_retries)) if v is not None}

    def audit_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `vsil.audit` these options stand for."""
        opts = self.judge_options()
        return {"judge": self.judge, "overlap": overlaps(self.overlap),
                "text_judge": self.text_judge, "describe": describe_arg(self.describe),
                "image_judge": None if self.image_judge.lower() == "none" else self.image_judge,
                "cache": cache_arg(self.no_cache, self.cache),
                "retry_errors": self.retry_errors,
                **({"judge_options": opts} if opts else {}), **self.load_kwargs()}


def audit_options(fn: Callable[..., None]) -> Callable[..., None]:
    """Give a typer command every `AuditArgs` option, in place of its ``args`` parameter.

    The command declares ``*, args: AuditArgs``; typer sees one option per field.
    """
    sig = inspect.signature(fn)
    hints = get_type_hints(AuditArgs)
    shared = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                default=typer.Option(f.default, *f.metadata["decls"],
                                                     **f.metadata["kw"]),
                                annotation=hints[f.name])
              for f in fields(AuditArgs)]
    names = [p.name for p in shared]
    params: list[inspect.Parameter] = []
    for p in sig.parameters.values():
        params += shared if p.name == "args" else [p.replace(kind=p.KEYWORD_ONLY)]
    if "args" not in sig.parameters:
        raise TypeError(f"{fn.__name__} needs a keyword-only `args: AuditArgs` parameter")

    @functools.wraps(fn)
    def command(**kwargs: Any) -> None:
        args = AuditArgs(**{n: kwargs.pop(n) for n in names})
        fn(**kwargs, args=args)

    command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return command


def overlaps(overlap: str) -> list[str]:
    """``--overlap embedding,lexical`` -> scorer names (``none`` -> none)."""
    return [o.strip() for o in overlap.split(",") if o.strip() and o.strip() != "none"]


def describe_arg(describe: str) -> bool | str | list[str]:
    """``--describe auto|off|none|on|NAMES`` -> the ``describe=`` of `vsil.audit`."""
    known: dict[str, bool | str] = {"auto": "auto", "off": False, "none": False, "on": True}
    if describe in known:
        return known[describe]
    return [d.strip() for d in describe.split(",") if d.strip()]


def cache_arg(no_cache: bool, cache: Path | None) -> bool | str:
    """``--no-cache`` / ``--cache PATH`` -> the ``cache=`` of `vsil.audit`."""
    return False if no_cache else (str(cache) if cache else True)


def check_rows_suffix(out: Path) -> None:
    """A ValueError unless ``out`` is a file `write_rows` can write."""
    if out.suffix.lower() not in ROW_SUFFIXES:
        raise ValueError(f"--out must end in .jsonl, .json, .csv or .parquet: {out}")


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """Write rows as JSONL, JSON, CSV or Parquet, by ``path``'s suffix."""
    import pandas as pd

    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(dumps(r, ensure_ascii=False) + "\n")
    elif suffix == ".json":
        path.write_text(dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    elif suffix == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    elif suffix in (".parquet", ".pq"):
        pd.DataFrame(rows).to_parquet(path, index=False)
    else:
        raise ValueError(f"--out must end in .jsonl, .json, .csv or .parquet, not {suffix!r}")

