"""`AuditResult`: per-sample rows, dataset figures, provenance, and the ways to export them."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, cast, overload

import numpy as np
import pandas as pd

from vsil._jsonable import dumps
from vsil._output import save_files, written
from vsil.audit.metrics import LeakageFigures

if TYPE_CHECKING:
    from vsil.dataset import Dataset

UnjudgedChoice = Literal["keep", "drop"]
T = TypeVar("T")


class UnjudgedRowsError(ValueError):
    """Filtering would have to decide about rows that could not be judged; say how."""


@dataclass(frozen=True)
class FilterCounts:
    """Rows of a dataset by what filtering knows of them."""

    total: int
    leaky: int
    clean: int
    unjudged: int
    skipped_at_load: int = 0


def check_unjudged(choice: str | None, counts: FilterCounts) -> UnjudgedChoice | None:
    """``choice`` validated; `UnjudgedRowsError` when there are unjudged rows and no choice."""
    if choice is not None and choice not in ("keep", "drop"):
        raise ValueError(f"unjudged must be 'keep' or 'drop', not {choice!r}")
    if choice is None and counts.unjudged:
        skipped = (f", {counts.skipped_at_load} of them skipped at load"
                   if counts.skipped_at_load else "")
        raise UnjudgedRowsError(
            f"{counts.unjudged} of {counts.total} rows could not be judged (load errors, "
            f"judge failures or refusals{skipped}); they are not known to be clean. Choose "
            "what happens to them: unjudged='keep' or 'drop' (CLI: --unjudged keep|drop)")
    return choice  # type: ignore[return-value]


SAMPLE_COLUMNS = (
    "id", "category", "sub_category", "text", "image", "image_text", "image_text_source",
    "pair_unsafe", "text_unsafe", "p_pair_unsafe", "p_text_unsafe", "leaky", "leakage_score",
    "pair_categories", "text_categories", "shared_concepts", "evidence", "error", "error_kind",
    "image_unsafe", "p_image_unsafe", "image_categories", "image_verdict_source", "harm_source",
)


class Figure(Generic[T]):
    """One of `LeakageFigures`' fields, read through an `AuditSummary`'s ``figures``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Figure[T]: ...
    @overload
    def __get__(self, obj: AuditSummary, owner: type) -> T: ...

    def __get__(self, obj: AuditSummary | None, owner: type) -> Figure[T] | T:
        if obj is None:
            return self
        value: T = getattr(obj.figures, self.name)
        return value


@dataclass
class AuditSummary:
    """Dataset-level figures (paper §1.2) plus what a reader needs to trust them."""

    dataset: str
    figures: LeakageFigures
    overlap_means: dict[str, float] = field(default_factory=dict)
    image_text_sources: dict[str, int] = field(default_factory=dict)
    n_load_errors: int = 0
    n_skipped_at_load: int = 0
    cache_hits: int = 0
    computed: int = 0
    judge: str = ""
    text_judge: str = ""
    judge_usage: dict[str, Any] = field(default_factory=dict)
    #: error rows per kind: ``load`` or a failure kind of `vsil.runtime.failures`
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: where the harm lives: per class (text, image, joint, none, unjudged) its ``n``,
    #: ``share`` of all N and Wilson 95% interval ``lo`` / ``hi`` (vsil.audit.harm_source)
    harm_sources: dict[str, dict[str, float]] = field(default_factory=dict)
    image_judge: str = ""

    # the figures, read through (summary.r1 is summary.figures.r1); see LeakageFigures
    n: ClassVar[Figure[int]] = Figure()
    n_scored: ClassVar[Figure[int]] = Figure()
    n_errors: ClassVar[Figure[int]] = Figure()
    n_pair_unsafe: ClassVar[Figure[int]] = Figure()
    n_text_unsafe: ClassVar[Figure[int]] = Figure()
    n_leaky: ClassVar[Figure[int]] = Figure()
    r1: ClassVar[Figure[float]] = Figure()
    r1_ci: ClassVar[Figure[tuple[float, float]]] = Figure()
    r2: ClassVar[Figure[float]] = Figure()
    r2_ci: ClassVar[Figure[tuple[float, float]]] = Figure()
    r1_minus_r2: ClassVar[Figure[float]] = Figure()
    r1_minus_r2_ci: ClassVar[Figure[tuple[float, float]]] = Figure()
    leak_ratio: ClassVar[Figure[float]] = Figure()
    leak_ratio_ci: ClassVar[Figure[tuple[float, float]]] = Figure()
    text_unsafe_rate: ClassVar[Figure[float]] = Figure()
    text_unsafe_rate_ci: ClassVar[Figure[tuple[float, float]]] = Figure()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["figures"] = self.figures.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditSummary:
        f = dict(d["figures"])
        for k, v in f.items():  # null (JSON for NaN) back to NaN
            if isinstance(v, list):
                f[k] = tuple(math.nan if x is None else x for x in v)
            elif v is None:
                f[k] = math.nan
        known = {x.name for x in fields(cls)}
        harm = {c: {k: math.nan if x is None else x for k, x in v.items()}
                for c, v in (d.get("harm_sources") or {}).items()}
        return cls(**{**{k: v for k, v in d.items() if k in known},
                      "figures": LeakageFigures(**f), "harm_sources": harm})

    def table(self) -> pd.DataFrame:
        """The headline figures as a small frame: value, 95% interval, count."""
        f = self.figures
        rows = [
            ("R1: pair unsafe", f.r1, f.r1_ci, f.n_pair_unsafe),
            ("R2: pair and text unsafe", f.r2, f.r2_ci, f.n_leaky),
            ("R1 - R2: harm needs the image", f.r1_minus_r2, f.r1_minus_r2_ci,
             f.n_pair_unsafe - f.n_leaky),
            ("leak ratio R2/R1", f.leak_ratio, f.leak_ratio_ci, None),
            ("text-only unsafe rate", f.text_unsafe_rate, f.text_unsafe_rate_ci,
             f.n_text_unsafe),
        ]
        rows += [(f"harm source: {k}", v["share"], (v["lo"], v["hi"]), int(v["n"]))
                 for k, v in self.harm_sources.items()]
        rows += [(f"mean overlap: {k}", v, (math.nan, math.nan), None)
                 for k, v in self.overlap_means.items()]
        return cast(pd.DataFrame, pd.DataFrame(
            [{"figure": a, "value": b, "ci_low": c[0], "ci_high": c[1], "count": n}
             for a, b, c, n in rows]
        ))


@dataclass
class AuditResult:
    """The outcome of `vsil.audit`.

    Attributes:
        samples: one row per sample; columns documented in docs/results.md.
        summary: dataset figures with intervals.
        per_category: the same figures per category and per (category, sub_category).
        provenance: vsil version, detectors and fingerprints, dataset hash, time.
        dataset: the loaded dataset, used by `clean()` / `leaky()` to return the input's type.
    """

    samples: pd.DataFrame
    summary: AuditSummary
    per_category: pd.DataFrame
    provenance: dict[str, Any]
    dataset: Dataset | None = field(default=None, repr=False)

    # ---- filtering -------------------------------------------------------------------
    def leaky_mask(self, threshold: float | None = None) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Per-sample leaky flag, or ``leakage_score >= threshold`` when one is given
        (False for rows that could not be judged; see `unjudged_mask`)."""
        if threshold is not None:
            return np.asarray(self.samples["leakage_score"].fillna(-1.0) >= threshold)
        return np.asarray(self.samples["leaky"].fillna(False).astype(bool))

    def unjudged_mask(self, threshold: float | None = None
                      ) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Per-sample flag of rows whose leak is unknown: the row failed to load or a judge
        failed or refused (``leaky`` is NA), or, with ``threshold``, it has no
        ``leakage_score``."""
        col = "leakage_score" if threshold is not None else "leaky"
        return np.asarray(self.samples[col].isna())

    def filter_counts(self, threshold: float | None = None) -> FilterCounts:
        """How many rows are leaky, clean and unjudged (rows skipped at load included)."""
        leaky = self.leaky_mask(threshold)
        unjudged = self.unjudged_mask(threshold)
        skipped = self.summary.n_skipped_at_load
        return FilterCounts(total=len(leaky) + skipped, leaky=int(leaky.sum()),
                            clean=int((~leaky & ~unjudged).sum()),
                            unjudged=int(unjudged.sum()) + skipped, skipped_at_load=skipped)

    def clean(self, threshold: float | None = None, *,
              unjudged: UnjudgedChoice | None = None) -> Any:
        """The input's own type (list, DataFrame, HF Dataset) without the leaky rows.

        Rows that could not be judged (load errors, judge failures or refusals, rows skipped
        at load) are not known to be clean: when there are any, ``unjudged`` must say what
        happens to them, ``"keep"`` or ``"drop"``; otherwise `UnjudgedRowsError` is raised.
        """
        if self.dataset is None:
            raise ValueError("this result was read from disk without its dataset; "
                             "use result.samples to filter rows")
        counts = self.filter_counts(threshold)
        choice = check_unjudged(unjudged, counts)
        keep = ~self.leaky_mask(threshold)
        if choice == "drop":
            keep &= ~self.unjudged_mask(threshold)
        return self._select(keep, include_skipped=choice == "keep")

    def leaky(self, threshold: float | None = None) -> Any:
        """The input's own type with only the rows known to be leaky."""
        return self._select(self.leaky_mask(threshold))

    def _select(self, mask: np.ndarray[Any, np.dtype[np.bool_]],
                include_skipped: bool = False) -> Any:
        if self.dataset is None:
            raise ValueError("this result was read from disk without its dataset; "
                             "use result.samples to filter rows")
        return self.dataset.select(list(mask), include_skipped=include_skipped)

    def most_leaky(self, k: int = 20) -> pd.DataFrame:
        cols = [c for c in ("id", "category", "sub_category", "text", "image_text",
                            "leakage_score", "leaky", "evidence") if c in self.samples]
        top = self.samples.sort_values("leakage_score", ascending=False, na_position="last")
        return cast(pd.DataFrame, top.head(k)[cols])

    # ---- export ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary.to_dict(),
            "per_category": _records(self.per_category),
            "provenance": self.provenance,
            "samples": _records(self.samples),
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """JSON of the summary, per-category figures, provenance and every sample row."""
        text = dumps(self.to_dict(), ensure_ascii=False, indent=1)
        return written(text, path)

    @classmethod
    def from_json(cls, path_or_text: str | os.PathLike[str]) -> AuditResult:
        """Read a result written by `to_json`, from a path or from the JSON text itself."""
        s = str(path_or_text)
        text = s if s.lstrip().startswith("{") else Path(s).read_text(encoding="utf-8")
        d = json.loads(text)
        return cls(
            samples=pd.DataFrame(d["samples"]),
            summary=AuditSummary.from_dict(d["summary"]),
            per_category=pd.DataFrame(d["per_category"]),
            provenance=d["provenance"],
        )

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        self.samples.to_parquet(path, index=False)

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        df = self.samples.copy()
        for c in ("pair_categories", "text_categories", "shared_concepts"):
            if c in df:
                df[c] = df[c].map(lambda v: "; ".join(v) if isinstance(v, list | tuple) else v)
        df.to_csv(path, index=False)

    def to_markdown(self) -> str:
        from vsil.report.markdown import render_markdown

        return render_markdown(self)

    def to_html(self, path: str | os.PathLike[str] | None = None, *, images: bool = True,
                image_root: str | os.PathLike[str] | None = None) -> str:
        """One self-contained HTML report (plots embedded, all dataset text escaped) with a
        browser over every sample.

        Args:
            path: also write the page here.
            images: add small JPEG thumbnails of the images that are local (the audited
                dataset's, or the ``image`` column resolved under ``image_root`` for a
                result read from disk); False keeps every image out of the page.
            image_root: where the ``image`` paths of a result read from disk are.
        """
        from vsil.report.html import render_html

        html = render_html(self, images=images, image_root=image_root)
        return written(html, path)

    def save(self, out_dir: str | os.PathLike[str], *, images: bool = True) -> dict[str, Path]:
        """report.html, result.json and samples.parquet in ``out_dir`` (``images=False``:
        no thumbnails in the report)."""
        return save_files(out_dir, {
            "html": ("report.html", lambda p: self.to_html(p, images=images)),
            "json": ("result.json", self.to_json),
            "parquet": ("samples.parquet", self.to_parquet)})

    def plot(self) -> Any:
        """R1 vs R2 bars, leakage-score histogram and per-category bars (a matplotlib Figure)."""
        from vsil.report.plots import summary_figure

        return summary_figure(self)

    def _repr_html_(self) -> str:
        from vsil.report.html import render_notebook

        return render_notebook(self)

    def __repr__(self) -> str:
        f = self.summary.figures
        return (f"AuditResult(dataset={self.summary.dataset!r}, n={f.n}, R1={f.r1:.4f}, "
                f"R2={f.r2:.4f}, leak_ratio={f.leak_ratio:.4f}, errors={f.n_errors})")


def _clean(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NA:
        return None
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return _clean(v.item())
    return v


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _clean(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
