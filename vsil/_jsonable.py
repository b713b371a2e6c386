"""Strict JSON for everything vsil writes: NaN and infinities become ``null``.

Python's `json` writes ``NaN``/``Infinity``, which are not JSON; other tools reject them.
`dumps` converts first and then refuses any that remain (``allow_nan=False``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def jsonable(v: Any) -> Any:
    """``v`` with NaN/inf → None, numpy and pandas scalars → Python, tuples/sets → lists."""
    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [jsonable(x) for x in v]
    tolist = getattr(v, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return jsonable(tolist())
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pass
    item = getattr(v, "item", None)
    if callable(item):
        return jsonable(item())
    return str(v)


def dumps(v: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``v`` (see `jsonable`)."""
    import json

    return json.dumps(jsonable(v), allow_nan=False, **kwargs)
