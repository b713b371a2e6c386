"""Shared fixtures. Every test runs offline: no hub, no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("VSIL_PROGRESS", "0")

from rule_judge_impl import RuleJudge


@pytest.fixture
def rule_judge() -> RuleJudge:
    return RuleJudge()


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "cache.sqlite"
