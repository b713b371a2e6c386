"""Matplotlib figures of an audit: R1 vs R2, the leakage-score histogram, per-category bars.

Matplotlib is imported lazily. Figures use the Agg canvas and never pyplot, so nothing
touches global figure state. Category names come from the dataset: every text is created
with mathtext and TeX off, so a name such as ``$\\input{...}$`` is drawn literally.
"""

from __future__ import annotations

import base64
import contextlib
import io
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from vsil.report._common import category_level, is_true, numeric, to_float

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from vsil.audit.result import AuditResult

#: at most this many categories in the per-category plot (the largest by n)
MAX_CATEGORIES = 30
_LABEL_CHARS = 36
_C_R1, _C_R2, _C_GAP, _C_TXT = "#c0392b", "#e67e22", "#2c7fb8", "#7f8c8d"


@contextlib.contextmanager
def safe_text() -> Iterator[None]:
    """rc settings under which dataset strings are drawn as plain text (no TeX, no mathtext)."""
    import matplotlib

    with matplotlib.rc_context({"text.usetex": False, "text.parse_math": False,
                                "svg.fonttype": "none"}), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # missing glyphs in exotic scripts
        yield


def _new_figure(w: float, h: float, left: float = 0.7, bottom: float = 0.75,
                top: float = 0.35, right: float = 0.2, wspace: float = 0.0) -> Figure:
    """A figure on the Agg canvas with fixed margins in inches (no layout engine: fast)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h,
                        wspace=wspace)
    FigureCanvasAgg(fig)
    return fig


def _label_margin(result: AuditResult) -> float:
    """Inches to the left of the per-category axes for the longest label (8 pt text)."""
    cats = category_level(result.per_category)
    longest = max((len(_label(c)) for c in cats.get("category", [])), default=0)
    return 0.25 + 0.06 * (longest + 8)


def _label(s: Any) -> str:
    t = " ".join(str(s).split())
    return t if len(t) <= _LABEL_CHARS else t[: _LABEL_CHARS - 1] + "…"


def _plain(texts: Any) -> None:
    for t in texts:
        t.set_parse_math(False)
        t.set_usetex(False)


def plain_text(fig: Figure) -> None:
    """Every text of ``fig`` drawn literally (no mathtext, no TeX), whatever the rc settings."""
    _plain(fig.findobj(lambda a: hasattr(a, "set_parse_math")))


def _err(values: list[float], cis: list[Any]) -> np.ndarray[Any, Any]:
    lo, hi = [], []
    for v, ci in zip(values, cis, strict=True):
        a, b = (to_float(ci[0]), to_float(ci[1])) if ci is not None and len(ci) == 2 else (
            None, None)
        lo.append(max(0.0, v - a) if a is not None else 0.0)
        hi.append(max(0.0, b - v) if b is not None else 0.0)
    return np.array([lo, hi]) * 100


def draw_overall(ax: Axes, result: AuditResult) -> None:
    """Bars of R1, R2, R1-R2 and the text-only rate with their 95% intervals."""
    f = result.summary.figures
    names = ["R1\nJ(T,I)", "R2\nboth", "R1−R2", "text-only\nJ(T)"]
    vals = [to_float(f.r1), to_float(f.r2), to_float(f.r1_minus_r2),
            to_float(f.text_unsafe_rate)]
    cis = [f.r1_ci, f.r2_ci, f.r1_minus_r2_ci, f.text_unsafe_rate_ci]
    v = [x if x is not None else 0.0 for x in vals]
    x = np.arange(len(names))
    ax.bar(x, np.array(v) * 100, yerr=_err(v, cis), capsize=4,
           color=[_C_R1, _C_R2, _C_GAP, _C_TXT])
    tops = np.array(v) * 100 + _err(v, cis)[1]
    for xi, val, top in zip(x, vals, tops, strict=True):
        ax.text(float(xi), float(top) + 1, "n/a" if val is None else f"{100 * val:.1f}%",
                ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, names)
    ax.set_ylim(0, 110)
    ax.set_ylabel("% of all N samples")
    ax.set_title(f"R1 vs R2 (N={f.n}, errors={f.n_errors})", fontsize=10)


def draw_histogram(ax: Axes, result: AuditResult) -> None:
    """Histogram of ``leakage_score``, stacked by the leaky flag."""
    s = result.samples
    score = numeric(s, "leakage_score")
    from matplotlib.ticker import MaxNLocator

    ok = score.notna()
    if not ok.any():
        ax.text(0.5, 0.5, "no leakage scores", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return
    leaky = (np.array([is_true(v) for v in s["leaky"]], dtype=bool) if "leaky" in s
             else np.zeros(len(s), dtype=bool))
    vals = score.to_numpy()
    bins = np.linspace(0.0, 1.0, 21)
    lo, hi = float(np.nanmin(vals)), float(np.nanmax(vals))
    if lo < 0.0 or hi > 1.0:
        bins = np.linspace(min(lo, 0.0), max(hi, 1.0), 21)
    ok_np = ok.to_numpy()
    ax.hist([vals[ok_np & ~leaky], vals[ok_np & leaky]], bins=bins.tolist(), stacked=True,
            color=[_C_TXT, _C_R1], label=["not leaky", "leaky"])
    ax.legend(fontsize=8)
    ax.set_xlabel("leakage_score")
    ax.set_ylabel("samples")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"leakage_score ({int(ok.sum())} scored)", fontsize=10)


def draw_categories(ax: Axes, result: AuditResult) -> bool:
    """Horizontal R1 vs R2 bars per category; False (and a note) when there are none."""
    cats = category_level(result.per_category)
    if len(cats) == 0:
        ax.text(0.5, 0.5, "no categories in this dataset", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return False
    if len(cats) > MAX_CATEGORIES:
        n = numeric(cats, "n").fillna(0)
        cats = cats.loc[n.sort_values(ascending=False, kind="stable").index[:MAX_CATEGORIES]]
    r1 = numeric(cats, "r1").fillna(0.0).to_numpy() * 100
    r2 = numeric(cats, "r2").fillna(0.0).to_numpy() * 100
    labels = [f"{_label(c)} (n={int(to_float(n) or 0)})"
              for c, n in zip(cats["category"], numeric(cats, "n"), strict=True)]
    y = np.arange(len(cats))[::-1]
    ax.barh(y + 0.2, r1, height=0.4, color=_C_R1, label="R1")
    ax.barh(y - 0.2, r2, height=0.4, color=_C_R2, label="R2")
    ax.set_yticks(y, labels, fontsize=8)
    _plain(ax.get_yticklabels())
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the category's samples")
    # legend above the axes, beside a left-aligned title: inside it would hide a long bar
    ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2,
              frameon=False, borderaxespad=0.1, handlelength=1.2, columnspacing=0.8)
    ax.set_title("R1 vs R2 per category", fontsize=10, loc="left")
    return True


def _category_height(result: AuditResult) -> float:
    k = min(len(category_level(result.per_category)), MAX_CATEGORIES)
    return max(2.5, 0.8 + 0.32 * k)


def summary_figure(result: AuditResult) -> Figure:
    """One figure: overall R1/R2 bars, the leakage-score histogram, per-category bars."""
    with safe_text():
        h = max(3.8, _category_height(result))
        left = _label_margin(result)
        fig = _new_figure(10.5 + left, h, top=0.6)
        w = fig.get_figwidth()
        # three axes placed by hand: R1/R2 bars, histogram, per-category bars with labels
        boxes = [(0.6, 3.0), (4.3, 3.0), (7.6 + left, 2.7)]
        axes = [fig.add_axes((x / w, 0.75 / h, bw / w, 1 - 1.35 / h)) for x, bw in boxes]
        draw_overall(axes[0], result)
        draw_histogram(axes[1], result)
        draw_categories(axes[2], result)
        fig.suptitle(_label(result.summary.dataset) if result.summary.dataset else "audit")
        _plain(fig.findobj(lambda a: hasattr(a, "set_parse_math")))
    return fig


def to_data_url(fig: Figure, dpi: int = 90) -> str:
    """PNG ``data:`` URL of a figure (rendered with the Agg canvas)."""
    buf = io.BytesIO()
    with safe_text():
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def report_plots(result: AuditResult) -> list[dict[str, str]]:
    """The report's plots as ``{"title", "url", "alt"}`` with PNG data URLs."""
    out: list[dict[str, str]] = []
    with safe_text():
        fig = _new_figure(4.6, 3.4, top=0.4)
        draw_overall(fig.subplots(), result)
        out.append({"title": "R1 vs R2", "url": to_data_url(fig),
                    "alt": "bars of R1, R2, R1-R2 and the text-only unsafe rate"})
        fig = _new_figure(4.6, 3.4)
        draw_histogram(fig.subplots(), result)
        out.append({"title": "leakage score", "url": to_data_url(fig),
                    "alt": "histogram of leakage_score"})
        if len(category_level(result.per_category)):
            left = _label_margin(result)
            fig = _new_figure(3.6 + left, _category_height(result), left=left, top=0.45)
            draw_categories(fig.subplots(), result)
            _plain(fig.findobj(lambda a: hasattr(a, "set_parse_math")))
            out.append({"title": "per category", "url": to_data_url(fig),
                        "alt": "bars of R1 and R2 per category"})
    return out
