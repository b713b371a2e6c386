"""Screenshot the sample browser of a report (the README's docs/img/sample-browser.png).

Opens REPORT in headless Chromium (playwright on the Debian chromium binary), filters to the
leaky rows of one category, searches a word, opens the first sample and saves a PNG::

    vsil audit vlsbench --out vsil-out
    python scripts/browser_screenshot.py vsil-out/report.html docs/img/sample-browser.png \\
        --category Violent --search weapon
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report"))
from browser_harness import choose, launch, open_page, search


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--category", default=None)
    ap.add_argument("--search", default=None)
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=820)
    args = ap.parse_args()
    with launch() as browser:
        page, watch = open_page(browser, args.report, viewport=(args.width, args.height))
        choose(page, "leak", "leaky")
        if args.category:
            choose(page, "category", args.category)
        if args.search:
            search(page, args.search)
        page.locator("#vb-body tr").first.click()
        page.evaluate("document.getElementById('browse').scrollIntoView()")
        args.png.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.png))
        if watch.errors:
            sys.exit(f"page errors: {watch.errors}")
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
