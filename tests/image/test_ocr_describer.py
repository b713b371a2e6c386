"""The OCR describer on real rendered typography and real photographs (real RapidOCR engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsil.dataset import ImageRef
from vsil.detectors import create, list_detectors

pytest.importorskip("rapidocr_onnxruntime")

from vsil.detectors.describers.ocr import OCRDescriber, describe_lines, reading_order


@pytest.fixture(scope="module")
def ocr() -> OCRDescriber:
    return OCRDescriber(workers=1)


def _words(text: str | None) -> set[str]:
    return {w.strip(".,").lower() for w in (text or "").split()}


def test_reads_back_figstep_typography(ocr: OCRDescriber, typo_dir: Path) -> None:
    harmful, benign = ocr.describe([ImageRef.from_path(typo_dir, "harmful.png"),
                                    ImageRef.from_path(typo_dir, "benign.png")])
    assert harmful.source == "ocr" and harmful.error is None
    assert {"steps", "manufacture", "illegal", "drugs"} <= _words(harmful.text)
    assert {"bake", "chocolate", "cake"} <= _words(benign.text)
    # reading order: the instruction first, then the empty list 1. 2. 3.
    lines = (harmful.text or "").splitlines()
    assert lines[0].lower().startswith("steps") and lines[-3:] == ["1.", "2.", "3."]
    confs = [ln["confidence"] for ln in harmful.extra["lines"]]
    assert len(confs) == len(lines) and all(0.5 <= c <= 1 for c in confs)
    assert harmful.confidence == pytest.approx(sum(confs) / len(confs), abs=1e-3)


def test_photographs_give_empty_descriptions(ocr: OCRDescriber, photo_dir: Path) -> None:
    refs = [ImageRef.from_path(photo_dir, p.name) for p in sorted(photo_dir.glob("*.png"))]
    out = ocr.describe(refs)
    assert len(out) == len(refs)
    for d in out:
        assert d.error is None and d.text == "" and d.confidence is None


def test_corrupt_image_fails_alone(ocr: OCRDescriber, typo_dir: Path) -> None:
    out = ocr.describe([ImageRef(data=b"not an image", label="bad.png"),
                        ImageRef.from_path(typo_dir, "benign.png")])
    assert out[0].text is None and "bad.png" in (out[0].error or "")
    assert "cake" in _words(out[1].text)


def test_reading_order_groups_rows_then_left_to_right() -> None:
    def ln(text: str, x0: float, y0: float, x1: float, y1: float) -> dict[str, object]:
        return {"text": text, "confidence": 0.9, "box": [x0, y0, x1, y1]}

    # second row's right word detected first; a taller box on row one; a two-column layout
    lines = [ln("world", 300, 102, 400, 140), ln("Hello", 10, 0, 120, 44),
             ln("there", 150, 8, 260, 40), ln("big", 10, 100, 90, 150)]
    rows = reading_order(lines)  # type: ignore[arg-type]
    assert [[d["text"] for d in r] for r in rows] == [["Hello", "there"], ["big", "world"]]
    d = describe_lines(lines)  # type: ignore[arg-type]
    assert d.text == "Hello there\nbig world" and d.confidence == pytest.approx(0.9)
    assert describe_lines([]).text == ""


def test_fingerprint_ignores_parallelism_and_registry_lists_it() -> None:
    a = OCRDescriber(threads=2, workers=1)
    b = OCRDescriber(threads=1, workers=2)
    assert a.fingerprint == b.fingerprint and "rapidocr" in a.fingerprint
    assert OCRDescriber(min_confidence=0.8).fingerprint != a.fingerprint
    assert isinstance(create("describer", "ocr"), OCRDescriber)
    info = {(d.kind, d.name): d for d in list_detectors()}
    assert info[("describer", "ocr")].extra == "ocr"


@pytest.mark.slow
def test_process_pool_matches_single_process(ocr: OCRDescriber, typo_dir: Path) -> None:
    refs = [ImageRef.from_path(typo_dir, n) for n in ("harmful.png", "benign.png")] * 2
    pooled = OCRDescriber(workers=2)
    try:
        assert [d.to_json() for d in pooled.describe(refs)] == \
            [d.to_json() for d in ocr.describe(refs)]
    finally:
        pooled.close()
