"""The audit plan: everything an audit needs, built once and handed to an engine.

`plan_audit` creates the judges, overlap scorers and describers (checked against their
protocols), resolves the cache and the failure policy's switch, and keeps how to rebuild each
detector in another process (`DetectorSpec`), which the Ray engine ships to its actors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsil.audit.describe import DescribeArg, Usable, describer_specs, needs_describing
from vsil.dataset import Dataset
from vsil.detectors import Describer, Detector, Judge, Kind, OverlapScorer, create
from vsil.runtime.cache import Cache, cache_file, open_cache

CacheArg = Cache | str | os.PathLike[str] | bool | None


@dataclass(frozen=True)
class DetectorSpec:
    """A detector that another process can rebuild: a spec string + options, or the object."""

    kind: Kind
    spec: str | Detector
    options: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Detector:
        """The detector (a new instance for a spec string; the object itself otherwise)."""
        return create(self.kind, self.spec, **dict(self.options))


@dataclass(frozen=True)
class RebuildSpecs:
    """How another process (a Ray actor) rebuilds each of the plan's detectors; a describer
    that could not be built has None."""

    pair: DetectorSpec
    text: DetectorSpec | None
    overlaps: list[DetectorSpec]
    describers: list[DetectorSpec | None]
    #: J(I)'s judge when it is neither the pair nor the text judge
    image: DetectorSpec | None = None


@dataclass
class CachePolicy:
    """Which cache the audit reads and writes, and whether cached failures are asked again."""

    cache: CacheArg = True
    retry_errors: bool = False
    _store: Cache | None = field(default=None, init=False, repr=False)

    @property
    def store(self) -> Cache:
        """The cache, opened on first use (in this process)."""
        if self._store is None:
            self._store = open_cache(self.cache)
        return self._store

    @property
    def path(self) -> str | None:
        """The SQLite file another process opens (absolute), or None for no cache."""
        f = cache_file(self.cache)
        return None if f is None else str(Path(f).resolve())


@dataclass
class AuditPlan:
    """The detectors of one audit, their rebuild specs, the cache policy.

    ``describers`` are (describer, None), or (None, why) for a default describer whose extra
    is missing; they are built only when some sample needs describing. ``text_judge`` is
    ``pair_judge`` itself when no separate text judge was given. ``image_judge`` asks J(I)
    (`vsil.audit.harm_source`): the text judge itself by default, another judge, or None for
    no J(I). ``specs``: how to rebuild them elsewhere (None for a plan made by hand, which
    only runs in this process).
    """

    pair_judge: Judge
    text_judge: Judge
    scorers: list[OverlapScorer]
    describers: list[Usable]
    force_describe: bool
    describe: DescribeArg
    cache: CachePolicy
    show_progress: bool | None = None
    specs: RebuildSpecs | None = None
    image_judge: Judge | None = None

    @property
    def overlap_names(self) -> list[str]:
        return [s.name for s in self.scorers]

    @property
    def describer_objects(self) -> list[Describer]:
        """The describers that could be built."""
        return [d for d, _ in self.describers if d is not None]

    def fingerprints(self) -> dict[str, str]:
        """Every detector's fingerprint, by role: what the cache keys are made of."""
        fps = {"judge": self.pair_judge.fingerprint, "text_judge": self.text_judge.fingerprint}
        if self.image_judge is not None:
            fps["image_judge"] = self.image_judge.fingerprint
        fps.update({f"overlap:{s.name}": s.fingerprint for s in self.scorers})
        fps.update({f"describer:{d.name}": d.fingerprint for d in self.describer_objects})
        return fps


ImageJudgeArg = str | Judge | bool | None


def plan_audit(ds: Dataset, judge: str | Judge = "embedded",
               text_judge: str | Judge | None = None,
               overlap: Sequence[str | OverlapScorer] | str | None = ("embedding", "lexical"),
               describe: DescribeArg = "auto", cache: CacheArg = True, *,
               judge_options: Mapping[str, Any] | None = None, retry_errors: bool = False,
               show_progress: bool | None = None,
               image_judge: ImageJudgeArg = "auto") -> AuditPlan:
    """Build every detector of an audit of ``ds`` once (arguments as in `vsil.audit`)."""
    opts = {k: v for k, v in (judge_options or {}).items() if v is not None}
    if isinstance(judge, list | tuple):
        raise TypeError("judge= takes one judge; to run several on the same data and compare "
                        "them, use vsil.agree(data=..., judge=[...]) (or `vsil agree`)")
    if isinstance(overlap, str):
        overlap = [overlap]
    pair_judge = create("judge", judge, **opts)
    txt_judge = create("judge", text_judge, **opts) if text_judge is not None else pair_judge
    img_judge: Judge | None
    img_spec: DetectorSpec | None = None
    if image_judge is None or image_judge is False:
        img_judge = None
    elif image_judge is True or image_judge == "auto":
        img_judge = txt_judge
    elif isinstance(image_judge, str) and image_judge == judge:
        img_judge = pair_judge
    elif isinstance(image_judge, str) and image_judge == text_judge:
        img_judge = txt_judge
    else:
        img_judge = create("judge", image_judge, **opts)
        img_spec = DetectorSpec("judge", image_judge, opts)
    scorers = [create("overlap", o) for o in (overlap or ())]
    describers, d_specs, force = _describers(ds, describe)
    return AuditPlan(pair_judge=pair_judge, text_judge=txt_judge, scorers=scorers,
                     describers=describers, force_describe=force, describe=describe,
                     cache=CachePolicy(cache, retry_errors), show_progress=show_progress,
                     specs=RebuildSpecs(
                         DetectorSpec("judge", judge, opts),
                         DetectorSpec("judge", text_judge, opts) if text_judge is not None
                         else None,
                         [DetectorSpec("overlap", o) for o in (overlap or ())], d_specs,
                         img_spec),
                     image_judge=img_judge)


def _describers(ds: Dataset, describe: DescribeArg
                ) -> tuple[list[Usable], list[DetectorSpec | None], bool]:
    """The describers (built only when a sample needs one), their specs, and ``force``."""
    specs, force = describer_specs(describe)
    if not specs or not any(s.load_error is None and needs_describing(s.image, s.image_text,
                                                                       force) for s in ds):
        return [], [], force
    usable: list[Usable] = []
    rebuild: list[DetectorSpec | None] = []
    for spec in specs:
        try:
            usable.append((create("describer", spec), None))
            rebuild.append(DetectorSpec("describer", spec))
        except (ImportError, ValueError) as e:
            if describe != "auto":
                raise
            # the default describers are optional extras; without them, say so per sample
            usable.append((None, f"no describer available: {e}"))
            rebuild.append(None)
    return usable, rebuild, force
