"""Drive report pages in headless Chromium through playwright (the Debian chromium binary;
playwright's own browser download is never needed).

A plain module (not a conftest) so that benchmarks and scripts can import it too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    """The chromium binary, or None."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None and Path("/usr/bin/chromium").exists():
        exe = "/usr/bin/chromium"
    return exe


@contextmanager
def launch(exe: str | None = None) -> Iterator[Any]:
    """A headless playwright Browser on the system chromium."""
    from playwright.sync_api import sync_playwright

    exe = exe or chromium_path()
    if exe is None:
        raise RuntimeError("chromium is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=ARGS,
                                    env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")})
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watch:
    """What a page did that it should not: errors, dialogs, requests leaving the page."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


def open_page(browser: Any, path: Path, *, wait: bool = True,
              viewport: tuple[int, int] = (1400, 900)) -> tuple[Any, Watch]:
    """``path`` loaded in a fresh page (waiting for the sample browser unless ``wait`` is
    False), and a `Watch` of its errors, dialogs, console and outgoing requests."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    watch = Watch()
    page.on("pageerror", lambda e: watch.errors.append(str(e)))
    page.on("console", lambda m: watch.console.append(f"{m.type}: {m.text}"))

    def on_dialog(d: Any) -> None:
        watch.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.on("request", lambda r: watch.requests.append(r.url)
            if not r.url.startswith(("file:", "data:")) else None)
    page.goto(path.resolve().as_uri())
    if wait:
        page.wait_for_selector("#vb[data-ready]", state="attached", timeout=60_000)
    return page, watch


def choose(page: Any, key: str, value: str) -> None:
    """Pick ``value`` (the option's text without its count) in the filter of ``key``."""
    code = page.evaluate(
        """([key, value]) => {
            const sel = document.querySelector(`#vb-filters select[data-key="${key}"]`);
            if (!sel) { return null; }
            for (const o of sel.options) {
                if (o.text === value || o.text.startsWith(value + " (")) { return o.value; }
            }
            return null;
        }""", [key, value])
    assert code is not None, f"no option {value!r} in the {key} filter"
    page.select_option(f'#vb-filters select[data-key="{key}"]', code)


def search(page: Any, text: str) -> None:
    """Type ``text`` in the search box and wait for the list to follow."""
    before = page.text_content("#vb-count")
    page.fill("#vb-q", text)
    page.wait_for_function("b => document.getElementById('vb-count').textContent !== b",
                           arg=before, timeout=5_000)


def listed(page: Any) -> list[int]:
    """The row numbers (positions in the samples frame) listed on the current page."""
    return [int(x) for x in page.eval_on_selector_all(
        "#vb-body tr", "trs => trs.map(t => t.dataset.row)")]


def column_text(page: Any, label: str) -> list[str]:
    """The text of one list column (by its heading) on the current page."""
    heads = page.eval_on_selector_all("#vb-head th", "ths => ths.map(t => t.textContent)")
    k = heads.index(label)
    return [str(x) for x in page.eval_on_selector_all(
        "#vb-body tr", f"trs => trs.map(t => t.children[{k}].textContent)")]


def detail(page: Any) -> dict[str, str]:
    """The open detail panel as {label: text}."""
    pairs = page.eval_on_selector_all(
        "#vb-fields dt", "dts => dts.map(d => [d.textContent, d.nextElementSibling.textContent])")
    return {str(k): str(v) for k, v in pairs}
