"""`vsil eval` and `vsil leaderboard` (register with ``app.command("eval")(eval_cmd)`` and
``app.command("leaderboard")(leaderboard_cmd)``).

Errors print one line on stderr and exit 2 (bad input), 3 (missing dependency) or 4 (an
endpoint that is down or keeps failing; the answers so far are saved, a re-run resumes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vsil.cli.errors import friendly_errors


@friendly_errors
def eval_cmd(
    model: str = typer.Option(..., "--model", "-m",
                              help="openai:NAME (OpenAI-compatible endpoint) or hf:PATH_OR_ID."),
    data: str = typer.Option("vlsbench", "--data", "-d",
                             help="A dataset name or file (anything `vsil.load` accepts)."),
    root: Path | None = typer.Option(None, "--root",
                                     help="Local root of a named dataset (VLSBench: data.json "
                                          "+ imgs/)."),
    base_url: str | None = typer.Option(None, "--base-url",
                                        help="Model endpoint (default $OPENAI_BASE_URL)."),
    judge: str = typer.Option("openai:gpt-4o", "--judge", "-j",
                              help="Judge model(s), comma-separated (first is primary); "
                                   "'none' to only collect answers."),
    judge_base_url: str | None = typer.Option(
        None, "--judge-base-url",
        help="Judge endpoint (default $VSIL_JUDGE_BASE_URL, then $OPENAI_BASE_URL)."),
    judge_variant: str = typer.Option(
        "official", "--judge-variant",
        help="official (judge sees the image) | text (description + safety reason; "
             "not the official protocol)."),
    mode: str = typer.Option("image", "--mode", help="image | text-only | caption"),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N samples."),
    concurrency: int = typer.Option(16, "--concurrency", help="Requests in flight."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens"),
    temperature: float = typer.Option(0.0, "--temperature"),
    system_prompt: str | None = typer.Option(None, "--system-prompt",
                                             help="Default: none (see docs/evaluate.md)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="Run directory; re-running with it resumes."),
    retry_errors: bool = typer.Option(
        False, "--retry-errors",
        help="On a resumed run, also ask again for answers and judgements that failed with an "
             "input, parse or refusal failure (transient failures are always retried)."),
) -> None:
    """Evaluate a model on VLSBench (or another dataset): answers, judge, safety rates."""
    from vsil.eval import evaluate

    judges: Any = None if judge.strip().lower() in ("", "none") else [
        j.strip() for j in judge.split(",") if j.strip()]
    load_kwargs = {"root": str(root)} if root is not None else None
    res = evaluate(model, data, judges, mode=mode,  # type: ignore[arg-type]
                   out_dir=out, limit=limit, concurrency=concurrency,
                   max_new_tokens=max_new_tokens, temperature=temperature,
                   system_prompt=system_prompt, base_url=base_url,
                   judge_base_url=judge_base_url,
                   judge_variant=judge_variant,  # type: ignore[arg-type]
                   load_kwargs=load_kwargs, retry_errors=retry_errors)
    typer.echo(res.to_markdown())
    s = res.summary
    typer.echo(f"{s.n} samples: {s.n_judged} judged, {s.n_unjudged} unjudged "
               f"({s.n_judge_refused} judge refusals), {s.n_model_errors} model errors, "
               f"{s.n_input_errors} input errors")


@friendly_errors
def leaderboard_cmd(
    runs: list[Path] = typer.Argument(..., help="Run directories (or result.json files)."),
    html: Path | None = typer.Option(None, "--html", help="Also write an HTML table here."),
) -> None:
    """Combine evaluation runs into a leaderboard, beside the paper's Table 3."""
    from vsil.eval import leaderboard

    lb = leaderboard([str(r) for r in runs])
    typer.echo(lb.to_markdown())
    if html is not None:
        lb.to_html(html)
        typer.echo(f"wrote {html}")
