"""Imports every built-in detector module so that each registers itself.

Modules that need optional dependencies import them lazily, inside the detector, so that
listing detectors never needs the extras.
"""

import vsil.detectors.describers.caption_hf
import vsil.detectors.describers.caption_openai
import vsil.detectors.describers.ocr
import vsil.detectors.image_nsfw
import vsil.detectors.judges.embedded
import vsil.detectors.judges.guard_judges
import vsil.detectors.judges.llamaguard
import vsil.detectors.judges.llamaguard4
import vsil.detectors.judges.moderation
import vsil.detectors.judges.openai_judge
import vsil.detectors.judges.shieldgemma2
import vsil.detectors.overlap.clip
import vsil.detectors.overlap.embedding
import vsil.detectors.overlap.lexical  # noqa: F401
