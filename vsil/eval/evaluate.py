"""`vsil.evaluate`: ask a model every question, save each answer, then judge the answers.

Layout of ``out_dir`` (one model, one mode)::

    answers.jsonl                        one line per finished item, written before judging
    judgements/<judge fingerprint>.jsonl one line per judged answer, per judge
    result.json, report.html, report.md  the EvalResult

A re-run with the same ``out_dir`` resumes: answered ids are skipped, judged answers are not
re-judged, and a new judge reuses the saved answers without asking the model again. Failed
records follow the one failure policy (`vsil.runtime.failures`): transient and environment
failures are asked again on every run; input, parse and refusal failures only with
``retry_errors=True`` (``vsil eval --retry-errors``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from vsil._version import __version__
from vsil.dataset import DataError, Dataset, Sample, load
from vsil.eval.answers import JsonlStore, now
from vsil.eval.judge import JudgeItem, ResponseJudge, make_judge
from vsil.eval.lazy_runtime import LazyRuntime
from vsil.eval.models import ModelBackend, ModelInput, make_model
from vsil.eval.prompts import CAPTION_TEMPLATE, Variant
from vsil.eval.rates import agreement
from vsil.eval.result import ROW_COLUMNS, EvalResult

Mode = Literal["image", "text-only", "caption"]
MODES: tuple[Mode, ...] = ("image", "text-only", "caption")
NO_IMAGES = ("VLSBench images are not included; pass root= with imgs/ or use "
             "mode='caption'/'text-only'")


def _sha(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:16]


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_")[:80] or "model"


def model_input(s: Sample, mode: Mode) -> ModelInput | str:
    """The prompt for one sample in a mode, or why it cannot be asked."""
    if s.load_error:
        return f"input: {s.load_error}"
    if mode == "image":
        if s.image is None:
            return "input: no image for mode='image'"
        return ModelInput(s.id, s.text, s.image)
    if mode == "caption":
        if not s.image_text:
            return "input: no image description for mode='caption'"
        return ModelInput(s.id, CAPTION_TEMPLATE.format(image_text=s.image_text,
                                                        question=s.text))
    return ModelInput(s.id, s.text)


def _prompt_sha(inp: ModelInput) -> str:
    return _sha(inp.text, inp.image.label if inp.image is not None else None)


def _as_judges(judge: Any, **kw: Any) -> list[ResponseJudge]:
    if judge is None:
        return []
    items = judge if isinstance(judge, (list, tuple)) else [judge]
    return [make_judge(j, **kw) for j in items]


def evaluate(
    model: str | ModelBackend,
    data: Any = "vlsbench",
    judge: str | ResponseJudge | Sequence[str | ResponseJudge] | None = "openai:gpt-4o",
    *,
    mode: Mode = "image",
    out_dir: str | Path | None = None,
    limit: int | None = None,
    concurrency: int = 16,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    system_prompt: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    judge_base_url: str | None = None,
    judge_api_key: str | None = None,
    judge_variant: Variant = "official",
    judge_concurrency: int | None = None,
    load_kwargs: dict[str, Any] | None = None,
    save: bool = True,
    retry_errors: bool = False,
) -> EvalResult:
    """Evaluate a model on a safety benchmark with the VLSBench protocol.

    Args:
        model: ``"openai:NAME"`` (OpenAI-compatible endpoint; ``base_url``/``api_key`` or
            ``OPENAI_BASE_URL``/``OPENAI_API_KEY``), ``"hf:PATH_OR_ID"`` (transformers
            locally), or a `ModelBackend`.
        data: anything `vsil.load` accepts; the default is the embedded VLSBench (no images).
        judge: ``"openai:NAME"`` or a `ResponseJudge`, a list of them (the first is primary;
            the others are compared with it), or None to only collect answers.
        mode: ``"image"`` (the pair), ``"text-only"`` (no image) or ``"caption"`` (the image's
            description in place of the image, paper Table 5).
        out_dir: run directory (answers, judgements, reports); default
            ``vsil_eval/<model>-<mode>``. Re-running with it resumes.
        limit: only the first ``limit`` samples.
        concurrency: requests in flight to the model (and the judge, unless
            ``judge_concurrency``).
        max_new_tokens, temperature, system_prompt: decoding of the model under test
            (greedy, 128 tokens, no system prompt by default; all recorded).
        judge_variant: ``"official"`` (judge sees the image) or ``"text"`` (sees
            ``image_description`` + ``safety_reason``; not the official protocol).
        load_kwargs: extra arguments for `vsil.load` (e.g. ``{"root": "vlsbench/"}``).
        save: write result.json, report.html and report.md into ``out_dir``.
        retry_errors: on a resumed run, also ask again for the answers and judgements that
            failed with an input, parse or refusal failure (transient and environment
            failures are always asked again).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    ds = data if isinstance(data, Dataset) else load(data, **(load_kwargs or {}))
    samples = list(ds)[:limit] if limit is not None else list(ds)
    if not samples:
        raise DataError("no samples to evaluate")
    has_image = any(s.image is not None for s in samples)
    if mode == "image" and not has_image:
        raise DataError(NO_IMAGES if ds.name == "vlsbench" else
                        "no sample has an image; use mode='caption' or 'text-only'")
    backend = make_model(model, base_url=base_url, api_key=api_key, concurrency=concurrency,
                         max_new_tokens=max_new_tokens, temperature=temperature,
                         system_prompt=system_prompt)
    judges = _as_judges(judge, base_url=judge_base_url, api_key=judge_api_key,
                        variant=judge_variant, concurrency=judge_concurrency or concurrency)
    if any(j.official for j in judges) and not has_image:
        raise DataError("the official judge sees the image, and these samples have none "
                        "(VLSBench images are not included: pass root= with imgs/), or use "
                        "judge_variant='text' (not the official protocol)")
    out = Path(out_dir) if out_dir is not None else Path("vsil_eval") / _slug(
        f"{backend.name}-{mode}")
    out.mkdir(parents=True, exist_ok=True)

    answers = _collect_answers(backend, samples, mode, out, retry_errors)
    judged = [_judge_answers(j, samples, answers, out, retry_errors) for j in judges]
    result = _build(ds, samples, mode, backend, judges, answers, judged, limit)
    if save:
        result.save(out)
    return result


def _again(old: dict[str, Any] | None, retry_errors: bool) -> bool:
    """Whether a saved record must be asked again (none saved, or a failure to retry)."""
    if old is None:
        return True
    if old.get("error") is None:
        return False
    return retry_errors or bool(old.get("retryable"))


def _collect_answers(backend: ModelBackend, samples: list[Sample], mode: Mode,
                     out: Path, retry_errors: bool = False) -> dict[str, dict[str, Any]]:
    store = JsonlStore(out / "answers.jsonl")
    saved = store.load()
    fp = backend.fingerprint
    other = {r.get("model_fingerprint") for r in saved.values()} - {fp}
    if other or any(r.get("mode") != mode for r in saved.values()):
        raise ValueError(f"{out} holds answers of another model, decoding or mode; "
                         "use a new out_dir")
    todo: list[ModelInput] = []
    shas: dict[str, str] = {}
    base = {"mode": mode, "model": backend.name, "model_fingerprint": fp}
    owners = _id_owners(samples)
    with store:
        for s in samples:
            if owners[s.id] is not s:
                continue  # a repeated id (a load error of its own): never stored under the id
            inp = model_input(s, mode)
            old = saved.get(s.id)
            if isinstance(inp, str):
                if old is None or old.get("error") != inp:
                    store.append({"id": s.id, **base, "error": inp, "kind": "input",
                                  "failure": "input", "retryable": False, "ts": now()})
                continue
            shas[s.id] = _prompt_sha(inp)
            if old is not None and old.get("prompt_sha") == shas[s.id] and not _again(
                    old, retry_errors):
                continue
            todo.append(inp)

        def on_result(inp: ModelInput, rec: dict[str, Any]) -> None:
            store.append({"id": inp.id, **base, "prompt_sha": shas[inp.id], **rec,
                          "ts": now()})

        if todo:
            backend.run(todo, on_result)
    if isinstance(backend, LazyRuntime):
        backend.raise_if_unavailable("model", f"the answers so far are saved in {store.path}")
    return store.load()


def _judge_item(s: Sample, answer: str) -> JudgeItem:
    reason = s.meta.get("safety_reason")
    return JudgeItem(s.id, s.text, answer, s.image, s.image_text,
                     str(reason) if reason else None)


def _id_owners(samples: list[Sample]) -> dict[str, Sample]:
    """The sample each id belongs to: its first occurrence (a later sample with the same id
    has a load error of its own and never reads or writes that id's records)."""
    owners: dict[str, Sample] = {}
    for s in samples:
        owners.setdefault(s.id, s)
    return owners


def _judge_answers(judge: ResponseJudge, samples: list[Sample],
                   answers: dict[str, dict[str, Any]], out: Path,
                   retry_errors: bool = False) -> dict[str, dict[str, Any]]:
    store = JsonlStore(out / "judgements" / f"{judge.fingerprint}.jsonl")
    saved = store.load()
    todo: list[JudgeItem] = []
    ans_sha: dict[str, str] = {}
    owners = _id_owners(samples)
    for s in samples:
        if owners[s.id] is not s or s.load_error:
            continue
        a = answers.get(s.id)
        if a is None or a.get("error") is not None or "answer" not in a:
            continue
        ans_sha[s.id] = _sha(a["answer"])
        old = saved.get(s.id)
        if old is not None and old.get("answer_sha") == ans_sha[s.id] and not _again(
                old, retry_errors):
            continue
        todo.append(_judge_item(s, str(a["answer"])))
    base = {"judge": judge.name, "judge_fingerprint": judge.fingerprint}

    def on_result(item: JudgeItem, rec: dict[str, Any]) -> None:
        store.append({"id": item.id, **base, "answer_sha": ans_sha[item.id], **rec,
                      "ts": now()})

    with store:
        if todo:
            judge.run(todo, on_result)
    judge.raise_if_unavailable("judge", f"the judgements so far are saved in {store.path}")
    return {k: v for k, v in store.load().items() if v.get("answer_sha") == ans_sha.get(k)}


def _build(ds: Dataset, samples: list[Sample], mode: Mode, backend: ModelBackend,
           judges: list[ResponseJudge], answers: dict[str, dict[str, Any]],
           judged: list[dict[str, dict[str, Any]]], limit: int | None) -> EvalResult:
    rows = []
    owners = _id_owners(samples)
    for s in samples:
        if s.load_error or owners[s.id] is not s:
            # a row that failed to load is that row's input error, whatever is saved under
            # its id (a repeated id must not take the first row's answer)
            a = {"error": f"input: {s.load_error or 'repeated id'}", "kind": "input"}
        else:
            a = answers.get(s.id) or {"error": "not answered", "kind": "missing"}
        if a.get("error") is not None:
            status = "input_error" if a.get("kind") == "input" else "model_error"
        else:
            status = "answered"
        j = (judged[0].get(s.id, {}) if judged else {}) if status == "answered" else {}
        label = j.get("label") if status == "answered" else None
        row: dict[str, Any] = {
            "id": s.id, "category": s.category, "sub_category": s.sub_category, "mode": mode,
            "status": status, "answer": a.get("answer"),
            "model_error": a.get("error"), "label": label,
            "label_str": j.get("label_str") if label else None,
            "explanation": j.get("explanation") if label else None,
            "judge_error": j.get("error") if status == "answered" else None,
            "judge_refused": bool(j.get("refused")) if status == "answered" else False,
            "text": s.text,
        }
        if status == "answered" and judged and not j:
            row["judge_error"] = "not judged"
        for k, other in enumerate(judged[1:], start=1):
            o = other.get(s.id, {}) if status == "answered" else {}
            row[f"label@{k}"] = o.get("label") if status == "answered" else None
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*ROW_COLUMNS, *(f"label@{k}"
                                                         for k in range(1, len(judges)))])
    for c in ("label", *(f"label@{k}" for k in range(1, len(judges)))):
        frame[c] = frame[c].astype("Int64")
    agree = []
    for k, jdg in enumerate(judges[1:], start=1):
        ag = agreement(list(frame["label"]), list(frame[f"label@{k}"]))
        agree.append({"judge_a": judges[0].name, "judge_b": jdg.name,
                      "variant_a": judges[0].variant, "variant_b": jdg.variant, **ag})
    tokens = {"prompt_tokens": 0, "completion_tokens": 0}
    for rec in answers.values():
        for key in tokens:
            tokens[key] += int((rec.get("usage") or {}).get(key) or 0)
    provenance = {
        "vsil_version": __version__, "created": now(), "mode": mode,
        "model": {"name": backend.name, "fingerprint": backend.fingerprint,
                  **backend.info(), "usage": tokens},
        "judges": [{"name": j.name, "fingerprint": j.fingerprint, **j.info()} for j in judges],
        "caption_template": CAPTION_TEMPLATE if mode == "caption" else None,
        "dataset": {"name": ds.name, "n_total": len(ds), "n_evaluated": len(samples),
                    "limit": limit, "content_hash": ds.content_hash},
    }
    return EvalResult(rows=frame, provenance=provenance, agreement=agree)
