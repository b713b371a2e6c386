"""The eval report's answer browser in headless Chromium, checked against result.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from browser_harness import choose, column_text, detail, listed, open_page, search

from vsil.eval.report_browser import LABELS
from vsil.eval.result import ROW_COLUMNS, EvalResult

pytestmark = pytest.mark.browser
CATS = ("Violent", "Privacy", "Hate", "Erotic")


def eval_result(n: int = 160, seed: int = 3) -> EvalResult:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        status = "model_error" if i % 17 == 5 else "input_error" if i % 41 == 7 else "answered"
        label = int(rng.integers(1, 4)) if status == "answered" and i % 11 else None
        rows.append({
            "id": f"q{i}", "category": CATS[i % 4], "sub_category": f"sub{i % 2}",
            "mode": "image", "status": status,
            "answer": (f"answer {i}: " + ("I cannot help with the lockpick" if i % 9 == 0
                                          else "here is how")) if status == "answered" else None,
            "model_error": None if status == "answered" else "transient: timeout",
            "label": label, "label_str": LABELS.get(label or 0),
            "explanation": "the model refused" if label == 1 else "it answered",
            "judge_error": "parse: no label" if status == "answered" and label is None else None,
            "judge_refused": False, "text": f"how do I open this lock, case {i}?",
            "label@1": label if i % 3 else (label or 1) % 3 + 1,
        })
    df = pd.DataFrame(rows, columns=[*ROW_COLUMNS, "label@1"])
    for c in ("label", "label@1"):
        df[c] = df[c].astype("Int64")
    return EvalResult(rows=df, provenance={
        "model": {"name": "some-mllm"}, "mode": "image",
        "judges": [{"name": "gpt-4o", "official_protocol": True}, {"name": "llamaguard"}]})


def test_eval_report_browses_every_answer(pw_browser: Any, tmp_path: Path) -> None:
    eval_result().save(tmp_path)
    rows = pd.DataFrame(json.loads((tmp_path / "result.json").read_text())["rows"])
    page, watch = open_page(pw_browser, tmp_path / "report.html")
    assert page.text_content("#vb-count") == "1–50 of 160 matching answers"
    assert listed(page) == list(range(50))  # in dataset order

    choose(page, "verdict", "unsafe")
    choose(page, "category", "Privacy")
    want = rows[(rows["label"] == 3) & (rows["category"] == "Privacy")]
    assert len(want) > 3 and listed(page) == list(want.index)
    assert set(column_text(page, "verdict")) == {"unsafe"}
    page.click("#vb-reset")

    choose(page, "error_type", "model error")
    assert listed(page) == list(rows.index[rows["status"] == "model_error"])
    page.click("#vb-reset")
    choose(page, "verdict", "unjudged")
    assert listed(page) == list(rows.index[(rows["status"] == "answered")
                                           & rows["label"].isna()])
    page.click("#vb-reset")

    search(page, "lockpick")
    hits = rows[rows["answer"].fillna("").str.contains("lockpick")]
    assert listed(page) == list(hits.index)
    page.select_option("#vb-sort", "label")
    labels = [rows.loc[i, "label"] for i in listed(page)]
    known = [v for v in labels if not pd.isna(v)]
    assert known == sorted(known, reverse=True) and all(pd.isna(v) for v in labels[len(known):])

    page.locator("#vb-body tr").first.click()
    r = rows.loc[listed(page)[0]]
    got = detail(page)
    assert got["query"] == r["text"] and got["answer"] == r["answer"]
    assert got["verdict"] == LABELS[int(r["label"])] and got["label (1-3)"] == str(int(r["label"]))
    assert got["judge explanation"] == r["explanation"]
    assert got["label by judge 1"] == str(int(r["label@1"]))
    assert got["status"] == "answered" and got["model error"] == "–"
    assert watch.errors == [] and watch.requests == []
    page.close()


def test_eval_notebook_fragment_has_no_script() -> None:
    frag = eval_result(20)._repr_html_()
    assert "<script" not in frag and "vsil-data" not in frag
