"""Judges, overlap scorers and describers behind one protocol each, registered by name."""

from vsil.detectors._base import (
    Describer,
    Description,
    Detector,
    Judge,
    JudgeInput,
    Overlap,
    OverlapInput,
    OverlapScorer,
    Verdict,
)
from vsil.detectors._registry import DetectorInfo, create, list_detectors, register_detector

__all__ = [
    "Describer",
    "Description",
    "Detector",
    "DetectorInfo",
    "Judge",
    "JudgeInput",
    "Overlap",
    "OverlapInput",
    "OverlapScorer",
    "Verdict",
    "create",
    "list_detectors",
    "register_detector",
]
