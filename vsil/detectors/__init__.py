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
    warm_up,
)
from vsil.detectors._encoder import Encoder, shared_encoder
from vsil.detectors._registry import (
    DetectorInfo,
    Kind,
    check_detector,
    create,
    list_detectors,
    register_detector,
)

__all__ = [
    "Describer",
    "Description",
    "Detector",
    "DetectorInfo",
    "Encoder",
    "Judge",
    "JudgeInput",
    "Kind",
    "Overlap",
    "OverlapInput",
    "OverlapScorer",
    "Verdict",
    "check_detector",
    "create",
    "list_detectors",
    "register_detector",
    "shared_encoder",
    "warm_up",
]
