"""Combine evaluation runs into a leaderboard, beside the paper's Table 3 where names match."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from vsil.eval.result import EvalResult
from vsil.report import pct, pct_ci
from vsil.report.markdown import md_escape

_DATE = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")
_PREFIX = re.compile(r"^(openai|hf|transformers):")


def normalise_name(name: str) -> str:
    """A model name reduced for matching: no backend prefix, org, date suffix, ``-hf``,
    ``-instruct``, 'v' before a version digit, or punctuation; lower case."""
    s = _PREFIX.sub("", name.strip()).split("/")[-1].lower()
    s = _DATE.sub("", s)
    s = re.sub(r"[-_](hf|instruct|chat)\b", "", s)
    s = re.sub(r"[-_](hf|instruct|chat)\b", "", s)
    s = re.sub(r"(?<![a-z])v(?=\d)", "", s)
    return re.sub(r"[^a-z0-9]", "", s)


@lru_cache(maxsize=1)
def paper_table3() -> dict[str, Any]:
    """The published VLSBench Table 3/16 (GPT-4o judge), with its source note."""
    path = resources.files("vsil") / "data" / "reference" / "paper_table3.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def paper_row(model: str) -> dict[str, Any] | None:
    """The Table 3 row whose name (or an alias) matches ``model`` after normalisation."""
    key = normalise_name(model)
    for row in paper_table3()["rows"]:
        names = [row["model"], *row.get("aliases", [])]
        if any(normalise_name(n) == key for n in names):
            return dict(row)
    return None


PAPER_N = 2241
PAPER_MODE = "image"


def paper_differences(res: EvalResult) -> list[str]:
    """How a run differs from the paper's Table 3 protocol (image mode, the official GPT-4o
    judge that sees the image, all 2,241 VLSBench samples); empty when it does not."""
    diffs = []
    if res.mode != PAPER_MODE:
        diffs.append(f"mode {res.mode} (paper: {PAPER_MODE})")
    judge = normalise_name(res.judge.replace(" (text variant)", ""))
    if not judge.startswith("gpt4o"):
        diffs.append(f"judge {res.judge} (paper: GPT-4o)")
    elif not res.official_protocol:
        diffs.append("text-variant judge (paper: the judge sees the image)")
    if res.summary.n != PAPER_N:
        diffs.append(f"N {res.summary.n} (paper: {PAPER_N:,})")
    return diffs


@dataclass
class Leaderboard:
    """One row per run, sorted by safety rate; ``paper_*`` columns where the paper has it."""

    frame: pd.DataFrame

    def to_markdown(self) -> str:
        head = ("model", "mode", "judge", "N", "safety %", "refusal %", "warning %",
                "unjudged", "model errors", "input errors", "paper safety %",
                "paper refusal %", "paper warning %", "vs paper")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in _records(self.frame):
            lines.append("| " + " | ".join([
                md_escape(r["model"], 80), md_escape(r["mode"]), md_escape(r["judge"], 60),
                str(r["n"]), _pci(r, "safety"), _pci(r, "refusal"), _pci(r, "warning"),
                str(r["n_unjudged"]), str(r["n_model_errors"]), str(r["n_input_errors"]),
                _paper(r["paper_total"]), _paper(r["paper_refusal"]),
                _paper(r["paper_warning"]), md_escape(r["paper_note"], 200)]) + " |")
        note = ("\nPaper numbers: VLSBench Table 3/16 (GPT-4o judge, all 2,241 samples, image "
                "mode). \"vs paper\" says whether a run follows that protocol; a run that "
                "does not is not comparable with the paper's numbers beside it.\n")
        return "\n".join(lines) + "\n" + note

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        rows = [{**r, "safety": _pci(r, "safety"), "refusal": _pci(r, "refusal"),
                 "warning": _pci(r, "warning"), "p_total": _paper(r["paper_total"]),
                 "p_refusal": _paper(r["paper_refusal"]),
                 "p_warning": _paper(r["paper_warning"])}
                for r in _records(self.frame)]
        html = _env().get_template("leaderboard.html.j2").render(
            rows=rows, source=paper_table3()["source"])
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(html)
        return html

    def _repr_html_(self) -> str:
        return self.to_html()


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in df.to_dict("records")]


def _pci(r: dict[str, Any], k: str) -> str:
    return f"{pct(r[k + '_rate'], sign=False)} {pct_ci(r[k + '_ci'], sign=False)}".strip()


def _paper(v: Any) -> str:
    return "" if v is None or pd.isna(v) else f"{float(v):.2f}"


def leaderboard(runs: Sequence[EvalResult | str | os.PathLike[str]]) -> Leaderboard:
    """A leaderboard of runs (EvalResult objects, result.json files or run directories)."""
    rows = []
    for run in runs:
        res = run if isinstance(run, EvalResult) else EvalResult.from_json(run)
        s = res.summary
        paper = paper_row(res.model)
        diffs = paper_differences(res)
        rows.append({
            "model": res.model, "mode": res.mode, "judge": res.judge,
            "official_protocol": res.official_protocol, "n": s.n,
            "safety_rate": s.safety_rate, "safety_ci": s.safety_ci,
            "refusal_rate": s.refusal_rate, "refusal_ci": s.refusal_ci,
            "warning_rate": s.warning_rate, "warning_ci": s.warning_ci,
            "n_unjudged": s.n_unjudged, "n_model_errors": s.n_model_errors,
            "n_input_errors": s.n_input_errors,
            "paper_comparable": bool(paper) and not diffs,
            "paper_note": ("" if not paper else "comparable" if not diffs
                           else "not comparable: " + "; ".join(diffs)),
            "paper_model": paper["model"] if paper else None,
            "paper_total": paper["total"] if paper else None,
            "paper_refusal": paper["refusal"] if paper else None,
            "paper_warning": paper["warning"] if paper else None,
        })
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.sort_values("safety_rate", ascending=False, ignore_index=True)
    return Leaderboard(frame)


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                       autoescape=True, undefined=StrictUndefined)
