"""`vsil generate` and `vsil rewrite` (registered on the app in vsil/cli/app.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from vsil.cli.options import check_rows_suffix, describe_arg, overlaps, write_rows


def generate_cmd(
    config: Path = typer.Option(..., "--config", "-c", help="Pipeline config (.toml/.yaml); "
                                "see examples/generate.toml."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (data.json + "
                                    "imgs/ + report.json); default: the config's `out`."),
    start_from: str | None = typer.Option(
        None, "--start-from", help="Redo from this step: queries|mitigate|images|filter "
        "(or 1-4). Without it, a re-run resumes where it stopped."),
    no_audit: bool = typer.Option(False, "--no-audit", help="Skip the audit of the result."),
    audit_judge: str | None = typer.Option(None, "--audit-judge",
                                           help="Judge of the final audit (default: config)."),
) -> None:
    """Run the VLSBench construction pipeline: elements/images -> a leak-free dataset."""
    from vsil.generate import generate, load_config

    cfg = load_config(config)
    if audit_judge:
        cfg = cfg.model_copy(update={"audit": cfg.audit.model_copy(
            update={"judge": audit_judge})})
    res = generate(cfg, out, start_from=start_from, audit=False if no_audit else None)
    for step, c in res.steps.items():
        reasons = ", ".join(f"{k}: {v}" for k, v in c["reasons"].items())
        typer.echo(f"{step:9s} kept {c['kept']:5d}  dropped {c['dropped']:5d}"
                   + (f"  ({reasons})" if reasons else ""))
    a = res.report.get("audit") or {}
    if a.get("error"):
        typer.echo(f"note: the audit of the result failed: {a['error']}", err=True)
    lr = a.get("leak_ratio")
    typer.echo(f"wrote {len(res)} items to {res.out / 'data.json'} + imgs/; report.json"
               + (f"; leak ratio {lr:.4f}" if isinstance(lr, float) else ""))


def rewrite_cmd(
    data: str = typer.Argument(..., help="A file, an imagefolder or a dataset name."),
    out: Path = typer.Option(..., "--out", "-o",
                             help="Output file (.jsonl/.json/.csv/.parquet): every row, "
                             "fixed rows rewritten. The report goes beside it "
                             "(OUT.report.csv)."),
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="A generate config; its mitigate model is used."),
    base_url: str | None = typer.Option(None, "--base-url",
                                        help="OpenAI-compatible endpoint of the rewriter."),
    model: str | None = typer.Option(None, "--model", "-m", help="Rewriter model."),
    judge: str = typer.Option("embedded", "--judge", "-j", help="Audit judge."),
    judge_base_url: str | None = typer.Option(None, "--judge-base-url",
                                              help="Base URL of an OpenAI-compatible judge."),
    overlap: str = typer.Option("embedding,lexical", "--overlap",
                                help="Overlap scorers, comma-separated, or none."),
    describe: str = typer.Option("auto", "--describe", help="auto | off | on | names."),
    image_root: Path | None = typer.Option(None, "--image-root"),
    root: Path | None = typer.Option(None, "--root", help="Local root of a named dataset."),
    text: str | None = typer.Option(None, "--text", help="Column holding the query text."),
    no_cache: bool = typer.Option(False, "--no-cache"),
) -> None:
    """Rewrite DATA's leaky queries (audit -> rewrite -> re-audit); keep verified fixes."""
    from vsil.generate import rewrite

    check_rows_suffix(out)
    load_kw: dict[str, Any] = {k: str(v) for k, v in (("image_root", image_root), ("root", root),
                                      ("text", text)) if v is not None}
    res = rewrite(data, config=config, base_url=base_url, model=model, judge=judge,
                  judge_options={"base_url": judge_base_url} if judge_base_url else None,
                  overlap=overlaps(overlap), describe=describe_arg(describe),
                  cache=not no_cache, checkpoint=out.with_name(out.name + ".rewrite.jsonl"),
                  **load_kw)
    write_rows(res.rows(), out)
    report_path = out.with_name(out.stem + ".report.csv")
    res.report.to_csv(report_path, index=False)
    counts = res.counts
    out.with_name(out.stem + ".summary.json").write_text(json.dumps(counts, indent=1))
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
    typer.echo(f"wrote {out} and {report_path}")
