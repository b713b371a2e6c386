"""`vsil agree OUT1 OUT2 ... [--out DIR]`: how far judges agree on one dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def agree_cmd(
    results: Annotated[list[Path] | None, typer.Argument(
        help="finished audits: --out folders of `vsil audit` or their result.json")] = None,
    data: Annotated[str | None, typer.Option(
        help="audit this dataset once per --judge instead (a name, file or folder)")] = None,
    judge: Annotated[list[str] | None, typer.Option(
        help="with --data: a judge to run (repeatable, at least two in all)")] = None,
    name: Annotated[list[str] | None, typer.Option(
        help="a label per audit, in order (default: the judge's name)")] = None,
    out: Annotated[Path | None, typer.Option(
        help="write agreement.json, agreement.csv and disagreements.csv here")] = None,
    cache: Annotated[str | None, typer.Option(
        help="with --data: cache file or directory; 'none' to disable")] = None,
) -> None:
    """Cohen's kappa per verdict (J(T), J(I), J(T,I)) and per category, the confusion
    matrices and the disagreeing samples of two or more judges on the same samples."""
    from vsil.agreement import agree

    kwargs: dict[str, Any] = {}
    if data is not None:
        kwargs["cache"] = True if cache is None else (False if cache.lower() == "none"
                                                      else cache)
    res = agree(*(results or []), data=data, judge=judge or None, names=name or None,
                **kwargs)
    typer.echo(res.to_markdown())
    if out is not None:
        paths = res.save(out)
        typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))
