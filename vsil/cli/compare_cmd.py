"""`vsil compare A B C ... [--judge] [--out DIR]`: the leakage table across datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def parse_dataset_arg(arg: str) -> Any:
    """``NAME``, ``NAME:key=value,key=value`` (loader arguments) or a path to a data file.

    Example: ``figstep:root=/data/FigStep,variant=question``. A ``label=`` key names the row.
    """
    if Path(arg).exists():
        return arg
    name, sep, rest = arg.partition(":")
    if not sep:
        return name
    kwargs: dict[str, Any] = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise typer.BadParameter(f"expected key=value in {arg!r}, got {part!r}")
        kwargs[key.strip()] = value.strip()
    return (name, kwargs)


def compare_cmd(
    datasets: Annotated[list[str], typer.Argument(
        help="datasets: NAME, NAME:key=value,... (e.g. figstep:root=DIR,variant=question) "
             "or a data file")],
    judge: Annotated[str, typer.Option(help="judge name, see `vsil detectors`")] = "embedded",
    overlap: Annotated[list[str] | None, typer.Option(
        help="overlap scorer (repeatable); 'none' for no scorer")] = None,
    out: Annotated[Path | None, typer.Option(
        help="write compare.html, compare.md, compare.json, compare.png here")] = None,
    cache: Annotated[str | None, typer.Option(
        help="cache file or directory; 'none' to disable")] = None,
    describe: Annotated[str, typer.Option(
        help="'auto', 'none', or a describer name for missing image_text")] = "auto",
) -> None:
    """Audit each dataset with the same detectors and print one row per dataset."""
    from vsil.compare import compare

    specs = [parse_dataset_arg(d) for d in datasets]
    ov: list[str] = ["embedding", "lexical"] if overlap is None else \
        [o for o in overlap if o.lower() != "none"]
    cache_arg: Any = True if cache is None else (False if cache.lower() == "none" else cache)
    desc: Any = False if describe.lower() == "none" else describe
    res = compare(specs, judge=judge, overlap=ov, cache=cache_arg, describe=desc)
    typer.echo(res.to_markdown())
    if out is not None:
        paths = res.save(out)
        typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))
