"""The four steps of the VLSBench construction pipeline (paper §3.2, App. F).

Each step takes the previous step's items, works in units (an element, an item, or the group
of items sharing one image), and writes one checkpoint record per unit: kept with its output
items, or dropped with a reason. Units already in the checkpoint are skipped, so a re-run
resumes.

An *item* is a dict: ``item_id``, ``origin`` ("text" or "image"), ``group`` (items of a group
share one image), ``category``, ``sub_category``, ``element``, ``image_description``,
``harmful_query``, ``source``, ``image`` (a path, once there is one) and what later steps add
(``instruction``, ``filter``, ``t2i_prompts``, ``final``, ``safety_reason``...).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from vsil.generate.checkpoint import Checkpoint, Record
from vsil.generate.config import GenerateConfig
from vsil.generate.llm import Answer, Request, StructuredLLM
from vsil.generate.prompts import get_prompt
from vsil.generate.rules import (
    check_taxonomy,
    keep_after_final,
    keep_after_mitigation,
    taxonomy_text,
)
from vsil.generate.schemas import (
    Categorized,
    ElementQueries,
    FinalVerdict,
    ImageQueries,
    LeakFilter,
    Mitigated,
    Review,
    T2IPrompt,
)
from vsil.generate.t2i import TextToImage, create_t2i
from vsil.runtime.progress import progress

Item = dict[str, Any]

#: model roles each step calls
STEP_ROLES: dict[str, tuple[str, ...]] = {
    "queries": ("queries", "image_queries"),
    "mitigate": ("mitigate", "mitigate_filter"),
    "images": ("t2i_prompt", "reviewer"),
    "filter": ("final_judge", "categorize"),
}


@dataclass
class StepContext:
    """What the steps share: the config, the work folder, lazily built model clients."""

    cfg: GenerateConfig
    work: Path
    show_progress: bool | None = None
    llms: dict[str, StructuredLLM] = field(default_factory=dict)
    t2i_backend: TextToImage | None = None

    def llm(self, role: str) -> StructuredLLM:
        if role not in self.llms:
            self.llms[role] = StructuredLLM(role, self.cfg.endpoint(role),
                                            show_progress=self.show_progress)
        return self.llms[role]

    def t2i(self) -> TextToImage:
        if self.t2i_backend is None:
            self.t2i_backend = create_t2i(self.cfg.t2i)
        return self.t2i_backend

    def fingerprint(self, step: str) -> str:
        """sha256 of everything that changes a step's outputs (no secrets)."""
        parts: dict[str, Any] = {"step": step}
        for role in STEP_ROLES[step]:
            parts[role] = {"prompt": get_prompt(role).info(), "model": _model_part(self, role)}
        if step == "queries":
            parts["queries_per_element"] = self.cfg.queries_per_element
        if step == "images":
            t = self.cfg.t2i.public()
            parts["t2i"] = {k: t[k] for k in ("backend", "model", "width", "height", "steps",
                                              "guidance_scale", "negative_prompt", "seed")}
            parts["max_rounds"] = self.cfg.max_rounds
        if step == "filter":
            parts["taxonomy"] = hashlib.sha256(taxonomy_text().encode()).hexdigest()
        import json

        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _model_part(ctx: StepContext, role: str) -> dict[str, Any]:
    try:
        ep = ctx.cfg.endpoint(role)
    except ValueError:
        return {"unset": True}
    return {"model": ep.model, "temperature": ep.temperature, "max_tokens": ep.max_tokens}


def short_hash(*parts: Any) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:8]


def run_units(ckpt: Checkpoint, units: Sequence[tuple[str, Any]],
              process: Callable[[list[tuple[str, Any]]], list[Record]], *, batch_size: int,
              desc: str, show_progress: bool | None = None) -> list[Item]:
    """Process the units not yet in the checkpoint, a batch at a time (each batch is written
    before the next starts); return the kept outputs of every unit, in unit order."""
    ckpt.last_keys = [k for k, _ in units]
    pending = [u for u in units if not ckpt.done(u[0])]
    bar = progress(len(pending), desc, show_progress)
    try:
        for start in range(0, len(pending), batch_size):
            chunk = pending[start:start + batch_size]
            records = process(chunk)
            if [r.key for r in records] != [k for k, _ in chunk]:
                raise RuntimeError(f"{desc}: a step returned records out of order")
            ckpt.append(records)
            bar.update(len(chunk))
    finally:
        bar.close()
    return ckpt.outputs(k for k, _ in units)


def _drop(key: str, role: str, ans: Answer, **detail: Any) -> Record:
    """A drop for a failed call; request failures are retried by the next run."""
    extra = {"retry": True} if ans.kind == "request" else {}
    return Record(key, False, f"{role}: {ans.error}", detail={"raw": ans.raw, **detail, **extra})


# --- step 1: harmful queries and image descriptions -----------------------------------------

def step1_queries(ctx: StepContext, ckpt: Checkpoint) -> list[Item]:
    """Elements -> one image description + N harmful queries each (text path); existing
    images -> image analysis + harmful instructions (image path)."""
    cfg = ctx.cfg
    n = cfg.queries_per_element
    units: list[tuple[str, Any]] = []
    for i, el in enumerate(cfg.all_elements()):
        key = el.id or f"e{i:04d}-{short_hash(el.category, el.sub_category, el.element)}"
        units.append((key, ("element", el)))
    for i, im in enumerate(cfg.images):
        key = im.id or f"i{i:04d}-{short_hash(im.path)}"
        units.append((key, ("image", im)))
    if not units:
        raise ValueError("nothing to generate from: the config has no elements and no images")

    def process(chunk: list[tuple[str, Any]]) -> list[Record]:
        out: dict[str, Record] = {}
        els = [(k, p[1]) for k, p in chunk if p[0] == "element"]
        ims = [(k, p[1]) for k, p in chunk if p[0] == "image"]
        if els:
            prompt = get_prompt("queries")
            answers = ctx.llm("queries").ask([Request(prompt.render(
                category=e.category, sub_category=e.sub_category, element=e.element,
                n_queries=n)) for _, e in els], desc="step 1 queries")
            for (key, e), ans in zip(els, answers, strict=True):
                if not ans.ok:
                    out[key] = _drop(key, "queries", ans)
                    continue
                v = cast(ElementQueries, ans.value)
                items = [{"item_id": f"{key}-q{j}", "origin": "text", "group": key,
                          "category": e.category, "sub_category": e.sub_category,
                          "element": e.element, "image_description": v.image_content,
                          "harmful_query": q, "source": "generation", "image": None}
                         for j, q in enumerate(v.harmful_queries[:n])]
                out[key] = Record(key, True, outputs=items)
        if ims:
            prompt = get_prompt("image_queries")
            ready: list[tuple[str, Any, Path]] = []
            for key, im in ims:
                path = cfg.resolve(im.path)
                if not path.is_file():
                    out[key] = Record(key, False, f"image_queries: image not found: {im.path}")
                else:
                    ready.append((key, im, path))
            answers = ctx.llm("image_queries").ask(
                [Request(prompt.render(n_queries=n), image=p) for _, _, p in ready],
                desc="step 1 image queries")
            for (key, im, path), ans in zip(ready, answers, strict=True):
                if not ans.ok:
                    out[key] = _drop(key, "image_queries", ans)
                    continue
                w = cast(ImageQueries, ans.value)
                items = [{"item_id": f"{key}-q{j}", "origin": "image", "group": key,
                          "category": None, "sub_category": None, "element": None,
                          "image_description": w.image_analysis, "harmful_query": q,
                          "source": im.source, "image": str(path.resolve())}
                         for j, q in enumerate(w.harmful_instruction[:n])]
                out[key] = Record(key, True, outputs=items)
        return [out[k] for k, _ in chunk]

    return run_units(ckpt, units, process, batch_size=cfg.batch_size, desc="step 1",
                     show_progress=ctx.show_progress)


# --- step 2: leakage mitigation ----------------------------------------------------------

def mitigate_items(ctx: StepContext, items: Sequence[Item], desc: str = "step 2"
                   ) -> list[tuple[bool, str | None, Item, dict[str, Any]]]:
    """Rewrite each item's query, then judge text alone / description alone / pair.

    Returns ``(kept, reason, item with instruction, detail)`` per item, in order.
    """
    rewrite, judge = get_prompt("mitigate"), get_prompt("mitigate_filter")
    answers = ctx.llm("mitigate").ask([Request(rewrite.render(
        image_description=it.get("image_description") or "(no description)",
        harmful_query=it["harmful_query"])) for it in items], desc=f"{desc} rewrite")
    ok = [i for i, a in enumerate(answers) if a.ok]
    verdicts = ctx.llm("mitigate_filter").ask([Request(judge.render(
        image_description=items[i].get("image_description") or "(no description)",
        text_query=cast(Mitigated, answers[i].value).revised_query)) for i in ok],
        desc=f"{desc} filter")
    by_index = dict(zip(ok, verdicts, strict=True))
    out: list[tuple[bool, str | None, Item, dict[str, Any]]] = []
    for i, (it, ans) in enumerate(zip(items, answers, strict=True)):
        if not ans.ok:
            out.append((False, f"mitigate: {ans.error}", dict(it),
                        {"raw": ans.raw, "retry": ans.kind == "request"}))
            continue
        m = cast(Mitigated, ans.value)
        new = {**it, "instruction": m.revised_query, "mitigation_explanation": m.explanation}
        fv = by_index[i]
        if not fv.ok:
            out.append((False, f"mitigate_filter: {fv.error}", new,
                        {"raw": fv.raw, "retry": fv.kind == "request"}))
            continue
        f = cast(LeakFilter, fv.value)
        new["filter"] = f.model_dump()
        kept, reason = keep_after_mitigation(f)
        out.append((kept, None if kept else f"mitigate_filter: {reason}", new,
                    {"filter": f.model_dump()}))
    return out


def step2_mitigate(ctx: StepContext, ckpt: Checkpoint, items: Sequence[Item]) -> list[Item]:
    """Keep a rewritten query iff text_harmful is False and pair_harmful is True."""
    units = [(it["item_id"], it) for it in items]

    def process(chunk: list[tuple[str, Any]]) -> list[Record]:
        res = mitigate_items(ctx, [it for _, it in chunk])
        return [Record(k, kept, reason, outputs=[new] if kept else [], detail=detail)
                for (k, _), (kept, reason, new, detail) in zip(chunk, res, strict=True)]

    return run_units(ckpt, units, process, batch_size=ctx.cfg.batch_size, desc="step 2",
                     show_progress=ctx.show_progress)


# --- step 3: iterative image generation --------------------------------------------------

def step3_images(ctx: StepContext, ckpt: Checkpoint, items: Sequence[Item]) -> list[Item]:
    """For each group of text-path items: prompt -> draw -> review, at most ``max_rounds``
    rounds; the last image is kept when no round passes (step 4 filters it). Image-path
    groups pass through with their own image."""
    groups: dict[str, list[Item]] = {}
    for it in items:
        groups.setdefault(it["group"], []).append(it)
    units = list(groups.items())
    img_dir = ctx.work / "images"
    img_dir.mkdir(parents=True, exist_ok=True)

    def process(chunk: list[tuple[str, Any]]) -> list[Record]:
        out: dict[str, Record] = {}
        todo: list[tuple[str, list[Item]]] = []
        for key, members in chunk:
            if members[0]["origin"] == "image":
                out[key] = Record(key, True, outputs=list(members),
                                  detail={"note": "existing image"})
            else:
                todo.append((key, members))
        _generate_groups(ctx, todo, img_dir, out)
        return [out[k] for k, _ in chunk]

    return run_units(ckpt, units, process, batch_size=ctx.cfg.batch_size, desc="step 3",
                     show_progress=ctx.show_progress)


def _generate_groups(ctx: StepContext, todo: list[tuple[str, list[Item]]], img_dir: Path,
                     out: dict[str, Record]) -> None:
    if not todo:
        return
    cfg = ctx.cfg
    first = {key: members[0] for key, members in todo}
    p_prompt = get_prompt("t2i_prompt")
    answers = ctx.llm("t2i_prompt").ask([Request(p_prompt.render(
        category=f"{first[k]['category']} / {first[k]['sub_category']}",
        element=first[k]["element"], image_description=first[k]["image_description"]))
        for k, _ in todo], desc="step 3 t2i prompts")
    state: dict[str, dict[str, Any]] = {}
    for (key, _), ans in zip(todo, answers, strict=True):
        if ans.ok:
            state[key] = {"prompts": [cast(T2IPrompt, ans.value).prompt], "reviews": []}
        else:
            out[key] = _drop(key, "t2i_prompt", ans)
    reviewer = get_prompt("reviewer")
    for rnd in range(1, cfg.max_rounds + 1):
        active = [k for k in state if k not in out]
        if not active:
            break
        prompts = [state[k]["prompts"][-1] for k in active]
        seeds = [cfg.t2i.seed + int(short_hash(k), 16) % 100_000 + 7919 * rnd for k in active]
        drawn = ctx.t2i().draw(prompts, seeds)
        reviewable: list[str] = []
        for k, d in zip(active, drawn, strict=True):
            if d.image is None:
                out[k] = Record(k, False, f"t2i: {d.error}",
                                detail={**_detail(state[k]), "retry": True})
                continue
            path = img_dir / f"{k}.r{rnd}.png"
            d.image.save(path, format="PNG")
            state[k]["image"] = str(path.resolve())
            reviewable.append(k)
        reviews = ctx.llm("reviewer").ask([Request(reviewer.render(
            category=f"{first[k]['category']} / {first[k]['sub_category']}",
            element=first[k]["element"], harmful_query=first[k]["harmful_query"],
            image_description=first[k]["image_description"],
            origin_prompt=state[k]["prompts"][-1]), image=state[k]["image"])
            for k in reviewable], desc=f"step 3 review r{rnd}")
        for k, ans in zip(reviewable, reviews, strict=True):
            if not ans.ok:
                out[k] = _drop(k, "reviewer", ans, **_detail(state[k]))
                continue
            rv = cast(Review, ans.value)
            state[k]["reviews"].append(rv.model_dump())
            if rv.verdict or rnd == cfg.max_rounds:
                out[k] = _finish(k, dict(todo)[k], state[k], passed=rv.verdict, rounds=rnd)
            elif rv.refined_prompt and rv.refined_prompt.strip():
                state[k]["prompts"].append(rv.refined_prompt.strip())
            else:  # no refinement offered: draw the same prompt again with a new seed
                state[k]["prompts"].append(state[k]["prompts"][-1])


def _detail(st: dict[str, Any]) -> dict[str, Any]:
    return {"t2i_prompts": st.get("prompts", []), "reviews": st.get("reviews", []),
            "last_image": st.get("image")}


def _finish(key: str, members: list[Item], st: dict[str, Any], *, passed: bool,
            rounds: int) -> Record:
    extra = {"image": st["image"], "t2i_prompts": list(st["prompts"]), "rounds": rounds,
             "review_passed": passed,
             "review_explanation": st["reviews"][-1].get("explanation", "")}
    return Record(key, True, outputs=[{**m, **extra} for m in members],
                  detail={"rounds": rounds, "review_passed": passed})


# --- step 4: final filtration and categorisation -----------------------------------------

def step4_filter(ctx: StepContext, ckpt: Checkpoint, items: Sequence[Item]) -> list[Item]:
    """The real image + the rewritten query: keep iff matched and harmful; then exactly one
    taxonomy (category, sub_category); an invalid taxonomy answer drops the item."""
    units = [(it["item_id"], it) for it in items]
    judge, categorize = get_prompt("final_judge"), get_prompt("categorize")
    taxonomy = taxonomy_text()

    def process(chunk: list[tuple[str, Any]]) -> list[Record]:
        out: dict[str, Record] = {}
        ready = []
        for k, it in chunk:
            if not it.get("image") or not Path(it["image"]).is_file():
                out[k] = Record(k, False, f"final_judge: image missing: {it.get('image')}")
            else:
                ready.append((k, it))
        verdicts = ctx.llm("final_judge").ask([Request(judge.render(
            text_query=it["instruction"]), image=it["image"]) for _, it in ready],
            desc="step 4 judge")
        passed: list[tuple[str, Item]] = []
        for (k, it), ans in zip(ready, verdicts, strict=True):
            if not ans.ok:
                out[k] = _drop(k, "final_judge", ans)
                continue
            v = cast(FinalVerdict, ans.value)
            kept, reason = keep_after_final(v)
            if not kept:
                out[k] = Record(k, False, f"final_judge: {reason}",
                                detail={"final": v.model_dump()})
            else:
                passed.append((k, {**it, "final": v.model_dump()}))
        cats = ctx.llm("categorize").ask([Request(categorize.render(
            taxonomy=taxonomy, text_query=it["instruction"]), image=it["image"])
            for _, it in passed], desc="step 4 categorise")
        for (k, it), ans in zip(passed, cats, strict=True):
            if not ans.ok:
                out[k] = _drop(k, "categorize", ans)
                continue
            c = cast(Categorized, ans.value)
            pair, why = check_taxonomy(c)
            if pair is None:
                out[k] = Record(k, False, f"categorize: {why}", detail={"answer": c.model_dump()})
                continue
            new = {**it, "element_category": it.get("category"),
                   "element_sub_category": it.get("sub_category"),
                   "category": pair[0], "sub_category": pair[1],
                   "categorize_explanation": c.explanation,
                   "safety_reason": safety_reason(it)}
            out[k] = Record(k, True, outputs=[new])
        return [out[k] for k, _ in chunk]

    return run_units(ckpt, units, process, batch_size=ctx.cfg.batch_size, desc="step 4",
                     show_progress=ctx.show_progress)


def safety_reason(it: Item) -> str:
    """Why the pair is unsafe, from the judges' explanations (final judge first)."""
    parts = [str((it.get("final") or {}).get("explanation") or "").strip(),
             str((it.get("filter") or {}).get("explanation") or "").strip()]
    seen: list[str] = []
    for p in parts:
        if p and p not in seen:
            seen.append(p)
    return " ".join(seen)
