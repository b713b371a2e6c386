"""Load reports with hostile dataset strings in headless Chromium: nothing may run.

Every payload, if it ran, would set ``data-pwned`` on <body>. Positive controls show that the
same payloads DO run in an unescaped page, so a passing test means the report escaped them.
The report also forbids every script but its own sample browser (allowed by hash) through
its Content-Security-Policy; the escaping is tested both with and without that meta tag, so
neither defence hides a failure of the other. The browser ran and listed every row here, so
the payloads also went through its script (see test_browser_xss.py for the interactions).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader
from report_fixtures import PAYLOADS, hostile_result

from vsil.audit import AuditResult
from vsil.report.html import TEMPLATES, context, render_html, render_notebook

pytestmark = pytest.mark.browser

PWNED_ATTR = re.compile(r"<[^>]*\sdata-pwned\s*=", re.IGNORECASE)
CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n?')


def dump_dom(chromium: str, page: Path, tmp_path: Path) -> str:
    """The DOM of ``page`` after its scripts (if any) had 3 s of virtual time."""
    profile = tmp_path / f"profile-{page.stem}"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
           "--virtual-time-budget=3000", "--dump-dom", page.resolve().as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "<body" in out.stdout, out.stderr[-2000:]
    return out.stdout


def _write(tmp_path: Path, name: str, html: str) -> Path:
    p = tmp_path / name
    p.write_text(html, encoding="utf-8")
    return p


def _unescaped_report(result: AuditResult) -> str:
    """The report as it would be if autoescape were off: the negative we must never ship."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=False)
    ctx = context(result, top_k=50, max_errors=100, plots=False)
    return CSP_META.sub("", env.get_template("report.html.j2").render(**ctx))


@pytest.mark.parametrize("key", ["img", "script", "svg", "iframe"])
def test_positive_control_payload_runs_when_unescaped(chromium: str, tmp_path: Path,
                                                      key: str) -> None:
    page = _write(tmp_path, f"control-{key}.html",
                  f"<!DOCTYPE html><html><body><p>{PAYLOADS[key]}</p></body></html>")
    dom = dump_dom(chromium, page, tmp_path)
    assert PWNED_ATTR.search(dom), dom[:2000]


def test_positive_control_unescaped_report_is_pwned(chromium: str, tmp_path: Path) -> None:
    page = _write(tmp_path, "control-report.html", _unescaped_report(hostile_result()))
    dom = dump_dom(chromium, page, tmp_path)
    assert PWNED_ATTR.search(dom)


@pytest.mark.parametrize("with_csp", [True, False])
def test_report_runs_no_dataset_script(chromium: str, tmp_path: Path, with_csp: bool) -> None:
    result = hostile_result()
    html = render_html(result)
    assert CSP_META.search(html)
    if not with_csp:  # escaping alone must be enough
        html = CSP_META.sub("", html)
    page = _write(tmp_path, f"report-{with_csp}.html", html)
    dom = dump_dom(chromium, page, tmp_path)
    assert not PWNED_ATTR.search(dom), PWNED_ATTR.search(dom)
    # the sample browser ran (its script is allowed by the policy's hash) and listed rows
    assert re.search(r'<section id="vb" data-ready="\d+">', dom)
    assert len(re.findall(r'<tr tabindex="0" data-row="\d+"', dom)) == 24
    # no element came out of dataset text: vsil's two script elements, no svg, iframe, a
    assert re.findall(r"<script\b[^>]*>", dom, re.IGNORECASE) == [
        '<script type="application/json" id="vsil-data">', "<script>"]
    assert not re.search(r"<(svg|iframe|a|link)\b", dom, re.IGNORECASE)
    assert len(re.findall(r"<img\b", dom, re.IGNORECASE)) == 4  # three plots, detail image
    # the payloads are on the page as text (serialised DOM escapes < > & in text)
    for key in ("img", "script", "svg", "link"):
        text = PAYLOADS[key].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert text in dom, key
    assert "javascript:document.body" in dom  # as text only: there is no <a> at all


def test_notebook_fragment_runs_no_dataset_script(chromium: str, tmp_path: Path) -> None:
    # notebooks show _repr_html_ without any CSP: escaping is the only defence there
    frag = render_notebook(hostile_result())
    page = _write(tmp_path, "notebook.html",
                  f"<!DOCTYPE html><html><body>{frag}</body></html>")
    dom = dump_dom(chromium, page, tmp_path)
    assert not PWNED_ATTR.search(dom)
    assert "&lt;img src=x onerror=" in dom


def test_markdown_sanity_with_payloads() -> None:
    md = hostile_result().to_markdown()
    assert "<" not in md
