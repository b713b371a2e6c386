"""`rewrite(data, ...)`: turn "detect leakage" into "fix leakage".

1. Audit the dataset (any judge); take the rows it flags leaky (pair unsafe and text unsafe).
2. Rewrite each leaky query with the pipeline's leakage-mitigation prompt (step 2): harmless
   alone, harmful only together with the image.
3. Audit the rewritten pairs again with the same judge. A row is **fixed** when its rewrite
   is no longer leaky and the pair is still unsafe; only fixed rows change. Rows whose
   rewrite still leaks, whose pair is no longer harmful, or whose rewrite or audit failed are
   reported and left as they were.

The result returns the input's own type (list of dicts, DataFrame, HF Dataset; a `Dataset`
for files and named datasets) with the text column replaced on fixed rows, and a report
DataFrame with the original and rewritten text side by side and the before/after verdicts.
LLM rewrites are checkpointed (JSONL) and audits are cached, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from vsil.dataset import Dataset, load
from vsil.generate.checkpoint import Checkpoint, Record
from vsil.generate.config import Endpoint, GenerateConfig, load_config
from vsil.generate.llm import Request, StructuredLLM
from vsil.generate.prompts import get_prompt
from vsil.generate.schemas import Mitigated

if TYPE_CHECKING:
    from vsil.audit.describe import DescribeArg
    from vsil.audit.plan import CacheArg
    from vsil.detectors import Judge, OverlapScorer

REPORT_COLUMNS = ("id", "status", "original_text", "rewritten_text", "before_pair_unsafe",
                  "before_text_unsafe", "after_pair_unsafe", "after_text_unsafe",
                  "after_leaky", "explanation", "reason")
STATUSES = ("fixed", "still_leaky", "no_longer_harmful", "rewrite_failed", "audit_error")


@dataclass
class RewriteResult:
    """What `rewrite` did.

    Attributes:
        data: the input's own type, with the text of fixed rows replaced.
        report: one row per leaky row (``REPORT_COLUMNS``): original and rewritten text,
            before/after verdicts, ``status`` (one of ``STATUSES``) and the reason.
        before: the audit of the input.
        after: the audit of the rewritten leaky rows (None when nothing was leaky).
        text_column: the input column the text came from.
    """

    data: Any
    report: pd.DataFrame
    before: Any
    after: Any = None
    text_column: str | None = None
    dataset: Dataset | None = None
    replaced: dict[int, str] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(self.report["status"]) if len(self.report) else Counter()
        return {"rows": len(self.dataset) if self.dataset is not None else 0,
                "leaky": len(self.report), **{s: int(c.get(s, 0)) for s in STATUSES}}

    def __repr__(self) -> str:
        return f"RewriteResult({self.counts})"

    def rows(self) -> list[dict[str, Any]]:
        """Every input row as a dict, with the text column of fixed rows replaced."""
        assert self.dataset is not None
        col = self.text_column or "text"
        rows = self.dataset.rows()
        by_pos = {p: i for i, p in enumerate(self.dataset.positions)}
        for p, new in self.replaced.items():
            rows[by_pos[p]][col] = new
        return rows


def rewrite(
    data: Any,
    *,
    llm: Endpoint | dict[str, Any] | None = None,
    config: str | os.PathLike[str] | GenerateConfig | None = None,
    base_url: str | None = None,
    model: str | None = None,
    judge: str | Judge = "embedded",
    text_judge: str | Judge | None = None,
    overlap: Sequence[str | OverlapScorer] | str | None = ("embedding", "lexical"),
    judge_options: dict[str, Any] | None = None,
    describe: DescribeArg = "auto",
    cache: CacheArg = True,
    checkpoint: str | os.PathLike[str] | None = None,
    show_progress: bool | None = None,
    quiet: bool = False,
    **load_kwargs: Any,
) -> RewriteResult:
    """Rewrite the leaky queries of any dataset vsil can load; keep only verified fixes.

    Args:
        data: anything `vsil.load` accepts.
        llm: the rewriting endpoint (an `Endpoint` or its fields as a dict); or ``config``
            (its ``[models.mitigate]`` / ``[llm]``); or ``base_url`` + ``model``.
        judge, text_judge, overlap, judge_options, describe, cache: as in `vsil.audit`; the
            same judge audits the input and the rewrites.
        checkpoint: a JSONL file for the LLM rewrites (resume after an interruption).
        **load_kwargs: passed to `vsil.load`.
    """
    from vsil.audit.audit import audit

    endpoint = _endpoint(llm, config, base_url, model)
    ds = load(data, **load_kwargs)
    audit_kw: dict[str, Any] = dict(judge=judge, text_judge=text_judge, overlap=overlap,
                                    judge_options=judge_options, describe=describe,
                                    cache=cache, show_progress=show_progress, quiet=True)
    before = audit(ds, **audit_kw)
    bs = before.samples
    leaky = [i for i, v in enumerate(bs["leaky"].tolist()) if v is True]
    text_col = (ds.info.get("columns") or {}).get("text")
    if not leaky:
        _say(quiet, f"vsil rewrite: no leaky rows among {len(ds)}; nothing to rewrite")
        return RewriteResult(_same_type(ds, {}, text_col), pd.DataFrame(
            columns=list(REPORT_COLUMNS)), before, None, text_col, ds)

    writer = StructuredLLM("mitigate", endpoint, show_progress=show_progress)
    prompt = get_prompt("mitigate")
    fp = hashlib.sha256(f"{prompt.sha256}|{endpoint.model}|{endpoint.temperature}".encode()
                        ).hexdigest()[:16]
    ck = Checkpoint(Path(checkpoint), "rewrite", fp) if checkpoint else None
    keys = [_key(ds[i].id, ds[i].text, bs["image_text"][i]) for i in leaky]
    todo = [j for j, k in enumerate(keys) if ck is None or not ck.done(k)]
    rewrites: dict[str, Record] = dict(ck.records) if ck is not None else {}
    step = max(1, endpoint.concurrency * 4)
    for start in range(0, len(todo), step):
        chunk = todo[start:start + step]
        answers = writer.ask([Request(prompt.render(
            image_description=bs["image_text"][leaky[j]] or "(no description of the image)",
            harmful_query=ds[leaky[j]].text)) for j in chunk], desc="rewrite")
        recs = []
        for j, ans in zip(chunk, answers, strict=True):
            if ans.ok:
                m = cast(Mitigated, ans.value)
                recs.append(Record(keys[j], True, outputs=[m.model_dump()]))
            else:
                recs.append(Record(keys[j], False, f"rewrite: {ans.error}",
                                   detail={"retry": ans.kind == "request"}))
        if ck is not None:
            ck.append(recs)
        rewrites.update({r.key: r for r in recs})

    done = [(i, rewrites[k]) for i, k in zip(leaky, keys, strict=True) if rewrites[k].kept]
    after = None
    after_rows: dict[int, dict[str, Any]] = {}
    if done:
        new_samples = [ds[i].model_copy(update={"text": r.outputs[0]["revised_query"]})
                       for i, r in done]
        rds = Dataset(samples=new_samples, name=f"{ds.name} (rewritten)", root=ds.root,
                      info={"columns": ds.info.get("columns", {})})
        after = audit(rds, **audit_kw)
        after_recs = cast(list[dict[str, Any]], after.samples.to_dict(orient="records"))
        for (i, _), rec in zip(done, after_recs, strict=True):
            after_rows[i] = rec

    report_rows: list[dict[str, Any]] = []
    replaced: dict[int, str] = {}
    for i, k in zip(leaky, keys, strict=True):
        r = rewrites[k]
        row: dict[str, Any] = {"id": ds[i].id, "original_text": ds[i].text,
               "before_pair_unsafe": bool(bs["pair_unsafe"][i]),
               "before_text_unsafe": bool(bs["text_unsafe"][i]),
               "rewritten_text": None, "after_pair_unsafe": None, "after_text_unsafe": None,
               "after_leaky": None, "explanation": None, "reason": None}
        if not r.kept:
            row.update(status="rewrite_failed", reason=r.reason)
        else:
            a = after_rows[i]
            row.update(rewritten_text=r.outputs[0]["revised_query"],
                       explanation=r.outputs[0].get("explanation"),
                       after_pair_unsafe=_b(a["pair_unsafe"]),
                       after_text_unsafe=_b(a["text_unsafe"]), after_leaky=_b(a["leaky"]))
            status, reason = _status(a)
            row.update(status=status, reason=reason)
            if status == "fixed":
                replaced[ds.positions[i]] = str(r.outputs[0]["revised_query"])
        report_rows.append(row)
    report = pd.DataFrame(report_rows, columns=list(REPORT_COLUMNS))
    res = RewriteResult(_same_type(ds, replaced, text_col), report, before, after, text_col,
                        ds, replaced)
    c = res.counts
    _say(quiet, f"vsil rewrite: {c['leaky']} leaky of {c['rows']}: {c['fixed']} fixed, "
                f"{c['still_leaky']} still leaky, {c['no_longer_harmful']} no longer harmful, "
                f"{c['rewrite_failed']} rewrite failed, {c['audit_error']} audit errors")
    return res


def _b(v: Any) -> bool | None:
    return None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else bool(v)


def _status(a: dict[str, Any]) -> tuple[str, str | None]:
    if a.get("error"):
        return "audit_error", str(a["error"])
    if _b(a["leaky"]):
        return "still_leaky", "the rewritten text is still unsafe alone"
    if not _b(a["pair_unsafe"]):
        return "no_longer_harmful", "the rewritten pair is no longer unsafe"
    return "fixed", None


def _key(sid: str, text: str, image_text: Any) -> str:
    blob = "\x1f".join([sid, text, "" if image_text is None else str(image_text)])
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _endpoint(llm: Endpoint | dict[str, Any] | None, config: Any, base_url: str | None,
              model: str | None) -> Endpoint:
    if isinstance(llm, Endpoint):
        ep = llm
    elif isinstance(llm, dict):
        ep = Endpoint(**llm)
    elif config is not None:
        ep = load_config(config).endpoint("mitigate")
    else:
        ep = Endpoint()
    upd = {k: v for k, v in (("base_url", base_url), ("model", model)) if v is not None}
    ep = ep.model_copy(update=upd) if upd else ep
    if not ep.base_url or not ep.model:
        raise ValueError("rewrite needs an LLM: pass llm=, config=, or base_url= and model=")
    return ep


def _same_type(ds: Dataset, replaced: dict[int, str], col: str | None) -> Any:
    """The input's own kind of object with ``replaced`` (origin row position -> new text)."""
    col = str(col or "text")
    kind = ds.origin_kind
    if kind == "list":
        out = [dict(r) if isinstance(r, dict) else r for r in ds.origin]
        for p, t in replaced.items():
            out[p][col] = t
        return out
    if kind == "dataframe":
        df = ds.origin.copy()
        j = df.columns.get_loc(col)
        for p, t in replaced.items():
            df.iloc[p, j] = t
        return df
    if kind == "hf":
        if not replaced:
            return ds.origin

        def fix(row: dict[str, Any], idx: int) -> dict[str, Any]:
            return {col: replaced.get(idx, row[col])}

        return ds.origin.map(fix, with_indices=True, load_from_cache_file=False)
    by_pos = {p: i for i, p in enumerate(ds.positions)}
    samples = list(ds.samples)
    for p, t in replaced.items():
        samples[by_pos[p]] = samples[by_pos[p]].model_copy(update={"text": t})
    origin = ds.origin
    if kind == "records" and origin is not None:
        origin = [dict(r) for r in origin]
        for p, t in replaced.items():
            origin[p][col] = t
    return Dataset(samples=samples, name=ds.name, origin=origin, origin_kind=kind,
                   positions=list(ds.positions), skipped=list(ds.skipped), root=ds.root,
                   info=dict(ds.info))


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr)
