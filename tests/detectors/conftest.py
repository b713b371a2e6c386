from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def embedded_judge() -> Any:
    from vsil.detectors.judges.embedded import EmbeddedJudge

    return EmbeddedJudge()


@pytest.fixture(scope="session")
def leaky_pairs() -> list[dict[str, Any]]:
    return [json.loads(x) for x in (DATA / "leaky_pairs.jsonl").read_text().splitlines()
            if x.strip()]
