"""Imports every built-in detector module so that each registers itself.

Modules that need optional dependencies import them lazily, inside the detector, so that
listing detectors never needs the extras.
"""

import vsil.detectors.judges.embedded
import vsil.detectors.judges.llamaguard
import vsil.detectors.judges.openai_judge
import vsil.detectors.overlap.embedding
import vsil.detectors.overlap.lexical  # noqa: F401
