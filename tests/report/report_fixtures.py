"""Builders of AuditResult objects for the report tests (no judge is run).

A plain module (not a conftest) so that its name is unique in the repository.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from vsil.audit import AuditResult, AuditSummary, figures, leakage_score, per_category
from vsil.audit.result import SAMPLE_COLUMNS

PAYLOADS = {
    "img": "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">",
    "script": "<script>document.body.setAttribute('data-pwned','2')</script>",
    "svg": "\"><svg onload=\"document.body.setAttribute('data-pwned','3')\">",
    "link": "<a href=\"javascript:document.body.setAttribute('data-pwned','4')\">click</a>",
    "iframe": "<iframe srcdoc=\"<script>parent.document.body.setAttribute('data-pwned','5')"
              "</script>\"></iframe>",
    "math": "$\\mathrm{x}^2$ and $$",
    "remote": "<img src=\"https://evil.example/x.png\"><link rel=stylesheet href=//evil.example/s>",
    # ends the JSON data block if it were not escaped, then runs a script
    "close": "</script><script>document.body.setAttribute('data-pwned','6')</script><!--",
    # template syntax (Jinja2 and JS template literals): must be shown as written
    "template": "{{7*7}} ${7*7} {% if 1 %}x{% endif %} {{ self.__init__ }}",
    # a javascript: URL, as a bare value (an image path, an id)
    "jsurl": "javascript:document.body.setAttribute('data-pwned','7')",
}
#: payloads without HTML syntax: harmless as text, so they appear unchanged in a page
PLAIN_TEXT_PAYLOADS = ("math", "template", "jsurl")
PAYLOAD = " ".join(PAYLOADS.values())
OVERLAPS = ("embedding", "lexical")
COLUMNS = [*SAMPLE_COLUMNS, *(f"overlap_{o}" for o in OVERLAPS)]


def make_samples(n: int = 40, *, categories: bool = True, error_every: int = 7,
                 all_errors: bool = False, payload: str | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """A samples frame with every column of SAMPLE_COLUMNS plus overlap_<name>."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        err = all_errors or (error_every > 0 and i % error_every == error_every - 1)
        pair = None if err else bool(rng.random() < 0.6)
        text = None if err else bool(rng.random() < 0.7 if pair else rng.random() < 0.1)
        pp = None if err else float(np.clip((0.8 if pair else 0.2) + rng.normal(0, 0.1), 0, 1))
        pt = None if err else float(np.clip((0.8 if text else 0.2) + rng.normal(0, 0.1), 0, 1))
        ov = {o: (None if err else float(rng.random())) for o in OVERLAPS}
        extra = f" {payload}" if payload else ""
        rows.append({
            "id": f"s{i}{extra}" if payload and i == 0 else f"s{i}",
            "category": (f"cat{i % 3}{extra}" if i % 3 == 0 else f"cat{i % 3}")
            if categories else None,
            "sub_category": f"sub{i % 2}" if categories else None,
            "text": f"how to make thing {i}{extra}",
            "image": f"img/{i}.png",
            "image_text": f"a picture of thing {i}{extra}",
            "image_text_source": "dataset",
            "pair_unsafe": pair,
            "text_unsafe": text,
            "p_pair_unsafe": pp,
            "p_text_unsafe": pt,
            "leaky": None if err else bool(pair and text),
            "leakage_score": leakage_score(pp, pt, [v for v in ov.values() if v is not None]),
            "pair_categories": [] if err else (["S1"] if pair else []),
            "text_categories": [] if err else (["S1"] if text else []),
            "shared_concepts": ["thing"] if not err and i % 2 else [],
            "evidence": "" if err else f"J(T) {'unsafe' if text else 'safe'}{extra}",
            "error": f"J(T,I): timeout{extra}" if err else None,
            **{f"overlap_{o}": v for o, v in ov.items()},
        })
    df = pd.DataFrame.from_records(rows, columns=COLUMNS)
    for c in ("pair_unsafe", "text_unsafe", "leaky"):
        df[c] = df[c].astype("boolean")
    for c in ("p_pair_unsafe", "p_text_unsafe", "leakage_score",
              *[f"overlap_{o}" for o in OVERLAPS]):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


def result_from(samples: pd.DataFrame, *, dataset: str = "toy",
                judge: str = "embedded") -> AuditResult:
    """Summary and per-category figures computed from ``samples`` the way the audit does."""
    fig = figures(samples["pair_unsafe"], samples["text_unsafe"], samples["error"].notna())
    means = {}
    for o in OVERLAPS:
        v = pd.to_numeric(samples[f"overlap_{o}"], errors="coerce").dropna()
        means[o] = float(v.mean()) if len(v) else math.nan
    summary = AuditSummary(
        dataset=dataset, figures=fig, overlap_means=means,
        image_text_sources=dict(Counter(samples["image_text_source"].fillna("none"))),
        judge=judge, text_judge=judge,
    )
    return AuditResult(
        samples=samples, summary=summary, per_category=per_category(samples, list(OVERLAPS)),
        provenance={
            "vsil_version": "0.1.0", "time": "2025-01-01T00:00:00+00:00",
            "dataset": {"name": dataset, "n": len(samples), "sha256": "ab" * 32},
            "judge_mode": "same judge for J(T,I) and J(T)",
            "judge": {"name": judge, "kind": "judge", "fingerprint": "fp-123",
                      "model": "tiny", "api_key": "sk-SECRET-should-not-show"},
            "text_judge": {"name": judge, "kind": "judge", "fingerprint": "fp-123"},
            "overlap": [{"name": o, "fingerprint": f"fp-{o}"} for o in OVERLAPS],
        },
    )


def make_result(n: int = 40, *, dataset: str = "toy", **kw: Any) -> AuditResult:
    """`make_samples` then `result_from`."""
    return result_from(make_samples(n, **kw), dataset=dataset)


def hostile_result(n: int = 24) -> AuditResult:
    """Every payload in every text field, alone at the start where no truncation cuts it."""
    s = make_samples(n, payload=PAYLOAD)
    keys = list(PAYLOADS)
    for i in range(len(s)):
        p = PAYLOADS[keys[i % len(keys)]]
        for col in ("text", "image_text", "evidence", "sub_category"):
            s.loc[i, col] = p + f" {col} {i}"
        s.loc[i, "error"] = p + f" error {i}" if i % 2 == 0 else None
        s.loc[i, "image"] = PAYLOADS["jsurl"] if i % 3 == 0 else p
    s["harm_source"] = [PAYLOADS[keys[(i + 1) % len(keys)]] for i in range(len(s))]
    s.loc[0, "id"] = PAYLOADS["img"]
    s.loc[1, "id"] = PAYLOADS["svg"]
    s.loc[2, "category"] = PAYLOADS["script"]
    s.loc[3, "id"] = PAYLOADS["close"]
    s.loc[4, "category"] = PAYLOADS["template"]
    return result_from(s, dataset=PAYLOADS["link"])
