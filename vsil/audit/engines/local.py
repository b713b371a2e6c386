"""The local engine: every detector in this process (batched models, bounded HTTP)."""

from __future__ import annotations

from vsil.audit.describe import Described, describe_rows
from vsil.audit.harm_source import judge_images
from vsil.audit.outputs import AuditOutputs
from vsil.audit.plan import AuditPlan
from vsil.audit.runner import RunContext, judge_usage, run_judge, run_overlap
from vsil.dataset import Dataset
from vsil.detectors import JudgeInput, OverlapInput, Verdict


class LocalEngine:
    """Runs the plan's detectors one after another over the whole dataset."""

    name = "local"

    def compute(self, dataset: Dataset, plan: AuditPlan) -> AuditOutputs:
        """Every per-sample output of the audit, in this process."""
        ctx = RunContext(plan.cache.store, plan.show_progress, plan.cache.retry_errors)
        images = [s.image if s.load_error is None else None for s in dataset]
        texts, sources, extra = describe_rows(images, [s.image_text for s in dataset],
                                              plan.describers, plan.force_describe, ctx)
        described = Described(texts, sources, extra, detectors=plan.describer_objects,
                              stats=list(ctx.stats))
        rows = [i for i, s in enumerate(dataset) if s.load_error is None]
        samples = [dataset[i] for i in rows]
        pair_in = [JudgeInput(s.text, s.image, texts[i]) for i, s in zip(rows, samples,
                                                                         strict=True)]
        text_in = [JudgeInput(s.text) for s in samples]
        pair_v = run_judge(plan.pair_judge, pair_in, ctx, "J(T,I)")
        text_v = run_judge(plan.text_judge, text_in, ctx, "J(T)")
        ov_in = [OverlapInput(s.text, s.image, texts[i]) for i, s in zip(rows, samples,
                                                                         strict=True)]
        image_v: list[Verdict | None] = []
        image_src: list[str] = []
        if plan.image_judge is not None:
            image_v, image_src = judge_images(plan.image_judge, [s.image for s in samples],
                                              [texts[i] for i in rows],
                                              [sources[i] for i in rows], ctx)
        overlaps = {sc.name: run_overlap(sc, ov_in, ctx) for sc in plan.scorers}
        usage_of = [j for j in (plan.pair_judge, plan.text_judge, plan.image_judge)
                    if j is not None]
        return AuditOutputs(described=described, rows=rows, pair=pair_v, text=text_v,
                            overlaps=overlaps, stats=ctx.stats, pair_judge=plan.pair_judge,
                            text_judge=plan.text_judge, scorers=plan.scorers,
                            judge_usage=judge_usage(*usage_of), image=image_v,
                            image_sources=image_src, image_judge=plan.image_judge)
