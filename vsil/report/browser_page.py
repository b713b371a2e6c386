"""Render a report page that carries a sample browser: its policy, its script, its size.

`render_page` renders a Jinja2 template with the browser's JSON block, vsil's browser
script and a Content-Security-Policy allowing that script alone, then states the page's own
weight on the page (a second render, once the first has been measured).
"""

from __future__ import annotations

from typing import Any

from jinja2 import Template
from markupsafe import Markup

from vsil.report.browser import Browser, size_text
from vsil.report.inline import csp, script

SCRIPT = "browser"


def size_note(page_bytes: int, browser: Browser) -> str:
    """What the page says about its own weight."""
    parts = [f"This page weighs about {size_text(page_bytes)}, of which "
             f"{size_text(browser.data_bytes)} is the data of its {browser.n_rows:,} "
             f"{browser.noun}"]
    if browser.n_images:
        parts.append(f", including {browser.n_images:,} thumbnails "
                     f"({size_text(browser.image_bytes)})")
    return "".join(parts) + "."


def render_page(template: Template, ctx: dict[str, Any], browser: Browser | None) -> str:
    """``template`` rendered with ``ctx`` plus ``browser``, ``script``, ``csp`` and
    ``size_note`` (no script and a script-free policy when ``browser`` is None)."""
    if browser is None:
        return template.render(**ctx, browser=None, script="", csp=Markup(csp()),
                               size_note="")
    code = script(SCRIPT)
    full = {**ctx, "browser": browser, "script": code, "csp": Markup(csp(str(code)))}
    first = template.render(**full, size_note="")
    weight = len(first.encode("utf-8"))
    note = size_note(weight, browser)
    note = size_note(weight + len(note.encode("utf-8")), browser)
    return template.render(**full, size_note=note)
