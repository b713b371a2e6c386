"""`generate(config)`: the four-step VLSBench construction pipeline, end to end.

``OUT/`` receives ``data.json`` + ``imgs/`` (VLSBench's layout, loadable with
``vsil.load("vlsbench", root=OUT)``), ``report.json`` (counts per step, drop reasons, models,
prompt hashes, token usage, the audit's figures) and the audit's ``report.html``.
``OUT/work/`` keeps one JSONL checkpoint per step and every drawn image.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsil._version import __version__
from vsil.generate.checkpoint import Checkpoint
from vsil.generate.config import STEPS, GenerateConfig, load_config, step_name
from vsil.generate.output import write_json, write_vlsbench
from vsil.generate.prompts import all_prompts
from vsil.generate.steps import (
    Item,
    StepContext,
    step1_queries,
    step2_mitigate,
    step3_images,
    step4_filter,
)

CHECKPOINT_FILES = {s: f"{i + 1}_{s}.jsonl" for i, s in enumerate(STEPS)}


@dataclass
class GenerateResult:
    """What a pipeline run produced.

    Attributes:
        out: the output folder (``data.json`` + ``imgs/``).
        entries: the data.json entries.
        steps: per step, units kept and dropped and the drop reasons.
        audit: the `vsil.audit` result of the generated set (None when off or empty).
        report: everything written to ``report.json``.
    """

    out: Path
    entries: list[dict[str, Any]]
    steps: dict[str, dict[str, Any]]
    audit: Any = None
    report: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        lr = (self.report.get("audit") or {}).get("leak_ratio")
        return (f"GenerateResult(out={str(self.out)!r}, n={len(self.entries)}, "
                f"leak_ratio={lr})")

    def load(self) -> Any:
        """The generated set as a vsil `Dataset`."""
        from vsil.dataset import load

        return load("vlsbench", root=str(self.out))


def generate(
    config: str | os.PathLike[str] | dict[str, Any] | GenerateConfig,
    out: str | os.PathLike[str] | None = None,
    *,
    start_from: str | int | None = None,
    audit: bool | None = None,
    show_progress: bool | None = None,
    quiet: bool = False,
) -> GenerateResult:
    """Run the VLSBench construction pipeline.

    Args:
        config: a TOML/YAML file, a dict, or a `GenerateConfig` (see examples/generate.toml).
        out: the output folder (default: the config's ``out``).
        start_from: redo from this step (``"queries"``, ``"mitigate"``, ``"images"``,
            ``"filter"`` or 1-4): its checkpoint and the later ones are discarded; earlier
            steps are read from their checkpoints (or ``seed_items_file``). Without it, every
            step resumes from its checkpoint and only unfinished units run.
        audit: override ``config.audit.enabled``.
        show_progress: force progress bars on or off.
        quiet: no summary line on stderr.

    Returns:
        A `GenerateResult`; the data is in ``OUT/data.json`` + ``OUT/imgs/``.
    """
    started = time.perf_counter()
    cfg = load_config(config)
    out_dir = Path(out if out is not None else (cfg.resolve(cfg.out) if cfg.out else ""))
    if not str(out_dir) or str(out_dir) == ".":
        raise ValueError("no output folder: pass out= or set `out` in the config")
    work = out_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    ctx = StepContext(cfg, work, show_progress=show_progress)
    first = STEPS.index(step_name(start_from)) if start_from is not None else 0
    for s in STEPS[first:] if start_from is not None else ():
        (work / CHECKPOINT_FILES[s]).unlink(missing_ok=True)
    ckpts = {s: Checkpoint(work / CHECKPOINT_FILES[s], s, ctx.fingerprint(s),
                           verify=i >= first)
             for i, s in enumerate(STEPS)}

    items = _items_before(cfg, ckpts, first)
    runners: dict[str, Callable[[list[Item]], list[Item]]] = {
               "queries": lambda _: step1_queries(ctx, ckpts["queries"]),
               "mitigate": lambda xs: step2_mitigate(ctx, ckpts["mitigate"], xs),
               "images": lambda xs: step3_images(ctx, ckpts["images"], xs),
               "filter": lambda xs: step4_filter(ctx, ckpts["filter"], xs)}
    ran: list[str] = []
    for s in STEPS[first:]:
        items = runners[s](items)
        ran.append(s)
        _log(quiet, f"step {STEPS.index(s) + 1} ({s}): {_fmt_counts(ckpts[s], s in ran)}")

    entries = write_vlsbench(items, out_dir)
    steps = {s: ckpts[s].counts(ckpts[s].last_keys if s in ran else None) for s in STEPS}
    audit_res, audit_info = _audit(cfg, out_dir, len(entries), audit, show_progress)
    report = {
        "vsil_version": __version__,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "out": str(out_dir),
        "n_items": len(entries),
        "n_images": len({e["image_path"] for e in entries}),
        "started_from": STEPS[first],
        "steps": steps,
        "per_category": _per_category(entries),
        "audit": audit_info,
        "provenance": {
            "prompts": all_prompts(),
            "models": {role: llm.info() for role, llm in sorted(ctx.llms.items())},
            "t2i": ctx.t2i_backend.info() if ctx.t2i_backend is not None
            else cfg.t2i.public(),
            "step_fingerprints": {s: c.fingerprint for s, c in ckpts.items()},
            "config": _public_config(cfg),
        },
        "elapsed_s": round(time.perf_counter() - started, 3),
    }
    write_json(out_dir / "report.json", report)
    _log(quiet, f"generate: {len(entries)} items in {out_dir} "
                f"(leak ratio {audit_info.get('leak_ratio', 'n/a')})")
    return GenerateResult(out_dir, entries, steps, audit_res, report)


def _items_before(cfg: GenerateConfig, ckpts: dict[str, Checkpoint], first: int
                  ) -> list[Item]:
    if first == 0:
        return []
    prev = ckpts[STEPS[first - 1]]
    if prev.records:
        return prev.outputs()
    if cfg.seed_items_file:
        path = cfg.resolve(cfg.seed_items_file)
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    raise ValueError(f"cannot start from {STEPS[first]!r}: no checkpoint of step "
                     f"{STEPS[first - 1]!r} in {prev.path.parent} and no seed_items_file")


def _fmt_counts(ckpt: Checkpoint, ran: bool) -> str:
    c = ckpt.counts(ckpt.last_keys if ran else None)
    reasons = ", ".join(f"{k} {v}" for k, v in c["reasons"].items())
    return (f"{c['kept']} kept, {c['dropped']} dropped"
            + (f" ({reasons})" if reasons else "") + f" -> {c['items_out']} items")


def _log(quiet: bool, msg: str) -> None:
    if not quiet:
        print(f"vsil: {msg}", file=sys.stderr)


def _per_category(entries: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in entries:
        k = f"{e['category']} / {e['sub_category']}"
        counts[k] = counts.get(k, 0) + 1
    return dict(sorted(counts.items()))


def _public_config(cfg: GenerateConfig) -> dict[str, Any]:
    d = cfg.model_dump(exclude={"elements", "images"})
    d["n_elements"] = len(cfg.elements)
    d["n_images"] = len(cfg.images)
    for k in ("llm", "mllm"):
        d[k] = getattr(cfg, k).public()
    d["models"] = {r: e.public() for r, e in cfg.models.items()}
    d["t2i"] = cfg.t2i.public()
    return d


def _audit(cfg: GenerateConfig, out: Path, n: int, enabled: bool | None,
           show_progress: bool | None) -> tuple[Any, dict[str, Any]]:
    """Audit the generated set; its failure is reported, never fatal to the generation."""
    if not (cfg.audit.enabled if enabled is None else enabled):
        return None, {"enabled": False}
    if n == 0:
        return None, {"enabled": True, "skipped": "no items were kept"}
    from vsil.audit.audit import audit

    a = cfg.audit
    try:
        res = audit("vlsbench", judge=a.judge, overlap=tuple(a.overlap),
                    text_judge=a.text_judge, judge_options=a.judge_options or None,
                    describe=a.describe, cache=a.cache, show_progress=show_progress,
                    quiet=True, root=str(out))
    except Exception as e:  # the data is written; say why the audit is missing
        return None, {"enabled": True, "error": f"{type(e).__name__}: {e}"}
    res.to_html(out / "report.html")
    f = res.summary.figures
    return res, {"enabled": True, "judge": res.summary.judge, "n": f.n,
                 "n_errors": f.n_errors, "r1": f.r1, "r2": f.r2, "leak_ratio": f.leak_ratio,
                 "leak_ratio_ci": list(f.leak_ratio_ci), "report_html": "report.html",
                 "summary": res.summary.to_dict()}
