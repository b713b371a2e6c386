"""Browser fixtures of the report tests: the chromium binary and a playwright browser.

Both skip locally when chromium (or playwright) is missing, and fail in CI, where
scripts/test.sh installs them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from browser_harness import chromium_path, launch


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI for the report browser tests")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = chromium_path()
    if exe is None:
        _missing("chromium")
    assert exe is not None
    return exe


@pytest.fixture(scope="module")
def pw_browser(chromium: str) -> Iterator[Any]:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("playwright")
    with launch(chromium) as browser:
        yield browser
