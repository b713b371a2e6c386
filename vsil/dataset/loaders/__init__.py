"""Built-in named loaders; importing this package registers them (one module per benchmark)."""

from vsil.dataset.loaders import (
    figstep,
    harmbench_mm,
    jailbreakv,
    mm_safetybench,
    mossbench,
    siuo,
    vlguard,
    vlsafe,
    vlsbench,
)

__all__ = [
    "figstep",
    "harmbench_mm",
    "jailbreakv",
    "mm_safetybench",
    "mossbench",
    "siuo",
    "vlguard",
    "vlsafe",
    "vlsbench",
]
