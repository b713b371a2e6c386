"""The ``ocr`` describer: text read out of an image with RapidOCR (PP-OCRv4, ONNX, offline).

Typography is a first-class image signal: FigStep and MM-SafetyBench put the harmful
instruction into the image as text. RapidOCR (``rapidocr-onnxruntime``, Apache-2.0) ships its
detection, orientation and recognition models inside the wheel, so it runs with no download.

Lines are joined in reading order (top to bottom, then left to right within a line); every
line keeps its recognition confidence in ``Description.extra["lines"]``; the description's
confidence is their mean. An image with no text gives an empty description (``text=""``).

Both cores are used by the ONNX sessions' own threads (``threads``, default 2, in this
process). ``workers=N`` instead sends calls with several images to N ``spawn`` worker processes
with one ONNX thread each. That is opt-in: spawn re-imports the caller's main module, so a
script without an ``if __name__ == "__main__":`` guard cannot start workers (the describer then
falls back to this process). On 2 shared cores the pool was up to 1.6x faster, but not in
every run (docs/performance.md).
"""

from __future__ import annotations

import importlib.metadata
import multiprocessing
import os
import weakref
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from vsil.dataset import ImageRef
from vsil.detectors._base import Description
from vsil.detectors._registry import register_detector
from vsil.runtime.failures import describe_exception

#: recognised lines below this confidence are dropped (RapidOCR's own default)
DEFAULT_MIN_CONFIDENCE = 0.5

Line = dict[str, Any]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def make_engine(threads: int | None, config_path: str | None = None,
                min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> Any:
    """A RapidOCR engine whose ONNX sessions use ``threads`` intra-op threads (None: all)."""
    from rapidocr_onnxruntime import RapidOCR

    kw: dict[str, Any] = {"text_score": min_confidence}
    if threads:
        kw.update(intra_op_num_threads=int(threads), inter_op_num_threads=1)
    return RapidOCR(config_path=config_path, **kw)


def to_bgr(image: Any) -> npt.NDArray[np.uint8]:
    """An RGB PIL image as the BGR uint8 array RapidOCR expects."""
    arr = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(arr[:, :, ::-1])


def read_lines(engine: Any, bgr: npt.NDArray[np.uint8]) -> list[Line]:
    """Raw OCR of one image: ``[{"text", "confidence", "box": [x0, y0, x1, y1]}]``."""
    result, _ = engine(bgr)
    lines: list[Line] = []
    for box, text, score in result or ():
        pts = np.asarray(box, dtype=float)
        text = str(text).strip()
        if not text:
            continue
        lines.append({
            "text": text,
            "confidence": round(float(score), 4),
            "box": [round(float(pts[:, 0].min()), 1), round(float(pts[:, 1].min()), 1),
                    round(float(pts[:, 0].max()), 1), round(float(pts[:, 1].max()), 1)],
        })
    return lines


def reading_order(lines: list[Line]) -> list[list[Line]]:
    """Group detected boxes into rows (top to bottom) and each row left to right.

    A box joins the current row when its vertical centre lies inside the row's vertical
    extent; this keeps words of one line together even when their boxes differ in height.
    """
    rows: list[list[Line]] = []
    extents: list[tuple[float, float]] = []
    for ln in sorted(lines, key=lambda d: ((d["box"][1] + d["box"][3]) / 2, d["box"][0])):
        cy = (ln["box"][1] + ln["box"][3]) / 2
        if rows and extents[-1][0] <= cy <= extents[-1][1]:
            rows[-1].append(ln)
            top, bottom = extents[-1]
            extents[-1] = (min(top, ln["box"][1]), max(bottom, ln["box"][3]))
        else:
            rows.append([ln])
            extents.append((ln["box"][1], ln["box"][3]))
    return [sorted(r, key=lambda d: d["box"][0]) for r in rows]


def describe_lines(lines: list[Line]) -> Description:
    """The `Description` of one image from its OCR lines."""
    rows = reading_order(lines)
    ordered = [ln for row in rows for ln in row]
    text = "\n".join(" ".join(ln["text"] for ln in row) for row in rows)
    conf = float(np.mean([ln["confidence"] for ln in ordered])) if ordered else None
    return Description(text=text, source="ocr",
                       confidence=None if conf is None else round(conf, 4),
                       extra={"lines": ordered})


# --- worker processes --------------------------------------------------------------------

_WORKER_ENGINE: Any = None


def _worker_init(threads: int | None, config_path: str | None, min_confidence: float) -> None:
    global _WORKER_ENGINE
    _WORKER_ENGINE = make_engine(threads, config_path, min_confidence)


def _worker_read(bgr: npt.NDArray[np.uint8]) -> list[Line]:
    return read_lines(_WORKER_ENGINE, bgr)


def _shutdown(pool: ProcessPoolExecutor) -> None:
    pool.shutdown(wait=True, cancel_futures=True)


@register_detector(
    "ocr",
    "describer",
    needs="image pixels",
    outputs="image_text = text read from the image, in reading order; per-line confidences",
    extra="ocr",
    description="RapidOCR (PP-OCRv4 ONNX, Apache-2.0, bundled): typography such as FigStep, "
    "offline",
)
class OCRDescriber:
    """Read the text typeset into images (RapidOCR, PP-OCRv4).

    Args:
        model: optional path to a RapidOCR ``config.yaml`` (other det/rec models); default:
            the PP-OCRv4 models bundled with ``rapidocr-onnxruntime``.
        threads: intra-op threads of the in-process ONNX sessions (default 2); pool workers
            use 1 each.
        workers: worker processes for calls with several images (default 1: all OCR in this
            process). The ``spawn`` pool starts once, on first use, and stops with the
            describer or at exit; if it cannot start, OCR falls back to this process.
        min_confidence: lines recognised with less confidence are dropped.
        batch_size: images per call (and per cache write).
    """

    name: ClassVar[str] = "ocr"
    kind: ClassVar[Literal["describer"]] = "describer"

    def __init__(
        self,
        model: str | None = None,
        *,
        threads: int | None = None,
        workers: int = 1,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        batch_size: int = 16,
    ) -> None:
        import rapidocr_onnxruntime  # noqa: F401  (ImportError here: the [ocr] extra is missing)

        if workers < 1:
            raise ValueError("workers must be >= 1")
        if model is not None and not os.path.isfile(model):
            raise FileNotFoundError(f"RapidOCR config not found: {model!r}")
        self.config_path = model
        self.workers = int(workers)
        self.threads = int(threads) if threads is not None else 2
        self.min_confidence = float(min_confidence)
        self.batch_size = int(batch_size)
        self._engine: Any = None
        self._pool: ProcessPoolExecutor | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # --- identity --------------------------------------------------------------------------

    def warmup(self) -> None:
        """Build the in-process OCR engine now rather than on the first batch."""
        if self._engine is None and self.workers <= 1:
            self._engine = make_engine(self.threads, self.config_path, self.min_confidence)

    @property
    def fingerprint(self) -> str:
        cfg = "bundled-ppocrv4" if self.config_path is None else self._config_sha()
        return (f"ocr:rapidocr-onnxruntime={_version('rapidocr-onnxruntime')}:{cfg}"
                f":min_conf={self.min_confidence:g}:v1")

    def _config_sha(self) -> str:
        import hashlib

        assert self.config_path is not None
        with open(self.config_path, "rb") as f:
            return "config-" + hashlib.sha256(f.read()).hexdigest()[:16]

    def info(self) -> dict[str, Any]:
        return {
            "engine": "rapidocr-onnxruntime",
            "engine_version": _version("rapidocr-onnxruntime"),
            "onnxruntime_version": _version("onnxruntime"),
            "models": "bundled PP-OCRv4 det/rec + mobile v2 cls" if self.config_path is None
            else f"config {os.path.basename(self.config_path)}",
            "min_confidence": self.min_confidence,
            "threads": self.threads,
            "workers": self.workers,
        }

    def __repr__(self) -> str:
        return f"OCRDescriber(threads={self.threads}, workers={self.workers})"

    # --- running ---------------------------------------------------------------------------

    def _read_all(self, arrays: list[npt.NDArray[np.uint8]]) -> list[list[Line] | str]:
        """OCR lines per image, or an error message for an image whose OCR failed."""
        if self.workers > 1 and len(arrays) > 1:
            try:
                return self._read_pool(arrays)
            except BrokenProcessPool:  # e.g. spawn without a __main__ guard: stay in-process
                self.close()
                self.workers = 1
        out: list[list[Line] | str] = []
        if self._engine is None:
            self._engine = make_engine(self.threads, self.config_path, self.min_confidence)
        for a in arrays:
            try:
                out.append(read_lines(self._engine, a))
            except Exception as e:
                out.append(f"ocr: {describe_exception(e)}")
        return out

    def _read_pool(self, arrays: list[npt.NDArray[np.uint8]]) -> list[list[Line] | str]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(1, self.config_path, self.min_confidence))
            self._finalizer = weakref.finalize(self, _shutdown, self._pool)
        futures = [self._pool.submit(_worker_read, a) for a in arrays]
        out: list[list[Line] | str] = []
        for f in futures:
            try:
                out.append(f.result())
            except BrokenProcessPool:
                raise
            except Exception as e:
                out.append(f"ocr: {describe_exception(e)}")
        return out

    def close(self) -> None:
        """Stop the worker processes (if any); the describer can still be used afterwards."""
        if self._finalizer is not None:
            self._finalizer()
        self._pool = None
        self._finalizer = None

    def describe(self, images: Sequence[ImageRef]) -> list[Description]:
        """One description per image, in order; unreadable images give an error record."""
        out: list[Description | None] = [None] * len(images)
        arrays: list[npt.NDArray[np.uint8]] = []
        where: list[int] = []
        for i, ref in enumerate(images):
            try:
                arrays.append(to_bgr(ref.open()))
                where.append(i)
            except Exception as e:  # a corrupt file must not stop the batch
                out[i] = Description(text=None, source="ocr", error=f"image: {e}",
                                     failure="input")
        for i, lines in zip(where, self._read_all(arrays) if arrays else [], strict=True):
            out[i] = (Description(text=None, source="ocr", error=lines, failure="environment")
                      if isinstance(lines, str) else describe_lines(lines))
        return [d for d in out if d is not None]
