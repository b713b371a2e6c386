"""Makes the fault-injecting server of tests/http importable here."""

from __future__ import annotations

import sys
from pathlib import Path

_HTTP = str(Path(__file__).resolve().parent.parent / "http")
if _HTTP not in sys.path:
    sys.path.insert(0, _HTTP)
