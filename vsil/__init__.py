"""vsil: audit multimodal safety datasets for visual safety information leakage (VSIL)."""

from vsil._version import __version__
from vsil.dataset import DataError, Dataset, Sample, load

__all__ = ["DataError", "Dataset", "Sample", "__version__", "load"]
