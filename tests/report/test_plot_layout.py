"""Plot layout: legends never cover data, labels stay inside the figure, short dataset names.

Each test draws the figure and compares the bounding boxes (in pixels) that matplotlib
itself reports, so a legend moved back over the bars fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from report_fixtures import make_samples, result_from

from vsil.compare import CompareResult, compare, compare_table
from vsil.eval.result import ROW_COLUMNS, EvalResult
from vsil.report.plots import draw_categories, report_plots
from vsil.taxonomy import CATEGORIES


def _vlsbench_like(n: int = 300, violent_unsafe: bool = True) -> Any:
    s = make_samples(n, seed=1)
    cats = list(CATEGORIES)
    s["category"] = [cats[i % len(cats)] for i in range(len(s))]
    if violent_unsafe:  # the longest bar is the one a legend in a corner would cover
        s.loc[(s["category"] == "Violent") & s["error"].isna(), "pair_unsafe"] = True
    return result_from(s, dataset="vlsbench")


def _drawn(fig: Any) -> Any:
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _overlaps(a: Any, b: Any) -> bool:
    return bool(a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1)


def test_per_category_legend_covers_no_bar() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    result = _vlsbench_like()
    fig = Figure(figsize=(5.5, 3.0))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.35, top=0.85)
    ax = fig.subplots()
    assert draw_categories(ax, result)
    r = _drawn(fig)
    legend = ax.get_legend().get_window_extent(r)
    bars = [p.get_window_extent(r) for p in ax.patches]
    assert len(bars) == 2 * len(CATEGORIES)
    assert max(b.width for b in bars) > 0.8 * ax.get_window_extent(r).width  # a long bar
    assert not any(_overlaps(legend, b) for b in bars)
    # the legend stays on the figure and clear of the title
    assert fig.bbox.contains(legend.x0, legend.y0) and fig.bbox.contains(legend.x1, legend.y1)
    assert not _overlaps(legend, ax.title.get_window_extent(r))
    assert len(report_plots(result)) == 3


def test_compare_legend_covers_no_bar_or_error_bar() -> None:
    results = {}
    for k, (name, seed) in enumerate((("vlsbench", 1), ("figstep", 2), ("mine", 3))):
        s = make_samples(200, seed=seed, error_every=0)
        if k == 0:  # R1 near 100%: its error bar reaches the top of the axes
            s["pair_unsafe"] = pd.array([True] * len(s), dtype="boolean")
            s.loc[0, "pair_unsafe"] = False
        results[name] = result_from(s, dataset=name)
    cmp = CompareResult(table=compare_table(results, []), results=results, judge="embedded")
    fig = cmp.plot()
    r = _drawn(fig)
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(r)
    data = [p.get_window_extent(r) for p in ax.patches]
    data += [c.get_window_extent(r) for c in ax.collections]  # error bars
    data += [ln.get_window_extent(r) for ln in ax.lines]  # error bar caps
    assert len(ax.collections) == 3
    assert not any(_overlaps(legend, d) for d in data)
    assert not _overlaps(legend, ax.title.get_window_extent(r))


def test_radar_labels_stay_inside_the_figure() -> None:
    rng = np.random.default_rng(0)
    cats = list(CATEGORIES)
    rows = [{"id": f"e{i}", "category": cats[i % 6], "sub_category": "x", "mode": "image",
             "status": "answered", "answer": "a", "model_error": None,
             "label": int(rng.integers(1, 4)), "label_str": "x", "explanation": "e",
             "judge_error": None, "judge_refused": False} for i in range(120)]
    res = EvalResult(rows=pd.DataFrame(rows, columns=list(ROW_COLUMNS)),
                     provenance={"model": {"name": "some-model-7b-instruct"}, "mode": "image"})
    fig = res.plot_radar()
    r = _drawn(fig)
    ax = fig.axes[0]
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    assert sorted(t.get_text() for t in labels) == sorted(cats)
    texts = [*labels, fig._suptitle]
    boxes = [t.get_window_extent(r) for t in texts]
    for t, b in zip(texts, boxes, strict=True):
        assert b.x0 >= 0 and b.y0 >= 0, t.get_text()
        assert b.x1 <= fig.bbox.width and b.y1 <= fig.bbox.height, t.get_text()
    legend = fig.legends[0].get_window_extent(r)
    assert not any(_overlaps(legend, b) for b in boxes)
    assert not _overlaps(legend, ax.get_window_extent(r))


def test_file_datasets_are_labelled_by_their_stem(tmp_path: Path) -> None:
    from rule_judge_impl import RuleJudge

    data = tmp_path / "deep" / "folder" / "my_set.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text('{"id": "1", "text": "how to steal a bike"}\n'
                    '{"id": "2", "text": "what is this"}\n', encoding="utf-8")
    res = compare([str(data), data], judge=RuleJudge(), overlap=(), cache=False)
    assert list(res.table["dataset"]) == ["my_set", "my_set #2"]
    assert str(tmp_path) not in res.to_markdown()
    assert [t.get_text() for t in res.plot().axes[0].get_xticklabels()] == ["my_set",
                                                                          "my_set #2"]
