"""Imports every built-in detector module so that each registers itself.

Modules that need optional dependencies import them lazily, inside the detector, so that
listing detectors never needs the extras.
"""

from vsil.detectors.judges import embedded as _embedded  # noqa: F401
from vsil.detectors.overlap import embedding as _embedding  # noqa: F401
from vsil.detectors.overlap import lexical as _lexical  # noqa: F401
