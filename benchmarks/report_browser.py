"""Page weight and time to first render of the report's sample browser in headless Chromium.

The rows are VLSBench's own queries and image descriptions (shipped with vsil), repeated to
the wanted size with fresh ids, random verdicts, probabilities and overlaps, every 15th row
an error. For each size the benchmark writes the report (timed in Python), then opens it in
headless Chromium through playwright and reads:

- ``first_render_ms``: ``performance.now()`` when the browser has listed its first page
  (navigation start -> HTML parsed, JSON parsed, filters built, rows sorted by leakage score,
  50 rows drawn), as the page records it in ``#vb[data-ready]``;
- ``search_ms``: typing a word until the list follows, minus the 150 ms input debounce (the
  first search also builds the search index);
- ``filter_ms``: choosing a category in a filter until the list follows;
- ``js_heap_mb``: the page's JavaScript heap after the first render.

Each size runs in a fresh page ``--repeat`` times; the median is reported. By default a
page holds at most 50,000 rows (or about 50 MB), so 100,000 rows measure the capped page;
``--uncapped`` also measures pages that embed every row. ``--images N`` also times the
thumbnails of N 640x480 JPEG photos (scikit-image's sample photographs, rotated) and
measures the first size again with those thumbnails cycled over its rows (within the
page's 30 MB thumbnail budget).

Usage::

    python benchmarks/report_browser.py [--sizes 10000 100000] [--repeat 3] [--uncapped]
        [--images 500] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report"))
from browser_harness import chromium_path, launch, open_page
from report_fixtures import COLUMNS, result_from

import vsil
from vsil.audit import leakage_score
from vsil.report.html import render_html


def samples(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows of VLSBench text with random verdicts (every 15th row an error)."""
    ds = vsil.load("vlsbench")
    base = [(s.text, s.image_text or "", s.category, s.sub_category) for s in ds]
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        text, img, cat, sub = base[i % len(base)]
        err = i % 15 == 14
        pp, pt = (None, None) if err else (float(rng.random()), float(rng.random()))
        ov = [None, None] if err else [float(rng.random()), float(rng.random())]
        pair = None if err else pp is not None and pp > 0.5
        txt = None if err else pt is not None and pt > 0.6
        rows.append({
            "id": f"{i}", "category": cat, "sub_category": sub, "text": text,
            "image": f"imgs/{i % len(base)}.png", "image_text": img,
            "image_text_source": "dataset", "pair_unsafe": pair, "text_unsafe": txt,
            "p_pair_unsafe": pp, "p_text_unsafe": pt,
            "leaky": None if err else bool(pair and txt),
            "leakage_score": leakage_score(pp, pt, [v for v in ov if v is not None]),
            "pair_categories": [] if err or not pair else [cat],
            "text_categories": [] if err or not txt else [cat],
            "shared_concepts": [], "evidence": "" if err else (
                f"J(T) {'unsafe' if txt else 'safe'} p={pt:.2f}; J(T,I) "
                f"{'unsafe' if pair else 'safe'} p={pp:.2f}; overlap embedding={ov[0]:.2f}, "
                f"lexical={ov[1]:.2f}"),
            "error": "J(T,I): transient: HTTP 503 from the judge endpoint" if err else None,
            "error_kind": "transient" if err else None,
            "overlap_embedding": ov[0], "overlap_lexical": ov[1],
        })
    df = pd.DataFrame.from_records(rows, columns=COLUMNS)
    for c in ("pair_unsafe", "text_unsafe", "leaky"):
        df[c] = df[c].astype("boolean")
    return df


def measure_page(browser: Any, path: Path) -> dict[str, float]:
    page, watch = open_page(browser, path)
    ready = float(page.get_attribute("#vb", "data-ready") or "nan")
    heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0")
    before = page.text_content("#vb-count")
    t0 = time.perf_counter()
    page.fill("#vb-q", "knife")
    page.wait_for_function("b => document.getElementById('vb-count').textContent !== b",
                           arg=before, timeout=60_000, polling=5)
    search_ms = (time.perf_counter() - t0) * 1000 - 150
    before = page.text_content("#vb-count")
    code = page.evaluate("""() => { const s = document.querySelector(
        '#vb-filters select[data-key="category"]'); return s.options[2].value; }""")
    t0 = time.perf_counter()
    page.select_option('#vb-filters select[data-key="category"]', code)
    page.wait_for_function("b => document.getElementById('vb-count').textContent !== b",
                           arg=before, timeout=60_000, polling=5)
    filter_ms = (time.perf_counter() - t0) * 1000
    assert not watch.errors, watch.errors
    page.close()
    return {"first_render_ms": ready, "search_ms": search_ms, "filter_ms": filter_ms,
            "js_heap_mb": heap / 1e6}


def with_thumbnails(result: Any, urls: list[str | None]) -> str:
    """The report as `render_html` writes it, with these thumbnails (one per row)."""
    from vsil.report.audit_browser import audit_spec, browser_frame
    from vsil.report.browser import build_browser
    from vsil.report.browser_page import render_page
    from vsil.report.html import MAX_ERROR_ROWS, TOP_K, context, environment

    b = build_browser(browser_frame(result.samples), audit_spec(result.samples, images=True),
                      images=urls)
    ctx = context(result, top_k=TOP_K, max_errors=MAX_ERROR_ROWS, plots=True)
    return render_page(environment().get_template("report.html.j2"), ctx, b)


def run_size(browser: Any, n: int, repeat: int, uncapped: bool, tmp: Path,
             thumbs: list[str] | None = None) -> dict[str, Any]:
    from vsil.report.thumbnails import BUDGET

    result = result_from(samples(n))
    kw: dict[str, Any] = {"images": False}
    if uncapped:
        kw.update(max_rows=n, max_bytes=10**10)
    t0 = time.perf_counter()
    if thumbs:  # the photos' thumbnails cycled over the rows, within the page's budget
        urls: list[str | None] = []
        spent = 0
        for i in range(n):
            u = thumbs[i % len(thumbs)]
            ok = spent + len(u) <= BUDGET
            urls.append(u if ok else None)
            spent += len(u) if ok else 0
        html = with_thumbnails(result, urls)
    else:
        html = render_html(result, **kw)
    build_s = time.perf_counter() - t0
    path = tmp / f"report-{n}-{'all' if uncapped else 'capped'}-{bool(thumbs)}.html"
    path.write_text(html, encoding="utf-8")
    embedded = html.count('"id":') and len(json.loads(
        html.split('id="vsil-data">', 1)[1].split("</script>", 1)[0])["data"]["id"])
    runs = [measure_page(browser, path) for _ in range(repeat)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return {"rows": n, "embedded": embedded, "capped": not uncapped,
            "thumbnails": html.count("data:image/jpeg;base64,"),
            "page_mb": len(html.encode("utf-8")) / 1e6, "build_s": build_s, **med,
            "runs": runs}


def run_images(k: int, tmp: Path) -> tuple[dict[str, Any], list[str]]:
    from PIL import Image

    from vsil.dataset import ImageRef
    from vsil.report.thumbnails import make_thumbnails

    (tmp / "imgs").mkdir(exist_ok=True)
    photos = []
    try:  # real photographs (scikit-image's sample data, in the dev extra)
        import skimage.data as skd

        for name in ("astronaut", "coffee", "chelsea", "rocket", "cat", "hubble_deep_field"):
            photos.append(Image.fromarray(getattr(skd, name)()).convert("RGB"))
    except (ImportError, AttributeError):
        rng = np.random.default_rng(1)
        base = np.linspace(0, 255, 640 * 480 * 3).reshape(480, 640, 3)
        photos = [Image.fromarray(np.clip(base * rng.random() + rng.normal(0, 25, base.shape),
                                          0, 255).astype("uint8")) for _ in range(6)]
    for i in range(k):
        photo = photos[i % len(photos)].resize((640, 480))
        photo.rotate(i % 360).save(tmp / "imgs" / f"{i}.jpg", quality=90)
    refs: list[ImageRef | None] = [ImageRef.from_path(tmp, f"imgs/{i}.jpg") for i in range(k)]
    t0 = time.perf_counter()
    th = make_thumbnails(refs)
    s = time.perf_counter() - t0
    return ({"images": k, "seconds": s, "per_image_ms": 1000 * s / k,
             "kb_per_thumbnail": th.n_bytes / max(1, th.n_made) / 1000, "made": th.n_made},
            [u for u in th.urls if u])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--uncapped", action="store_true",
                    help="also measure pages that embed every row (no 50k / 50 MB cap)")
    ap.add_argument("--images", type=int, default=0, help="also time N thumbnails")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    exe = chromium_path()
    if exe is None:
        sys.exit("chromium is not installed")
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                       "load": os.getloadavg()[0]}, "pages": []}
    with tempfile.TemporaryDirectory() as d, launch(exe) as browser:
        out["machine"]["chromium"] = browser.version
        tmp = Path(d)
        thumbs: list[str] = []
        if args.images:
            out["thumbnails"], thumbs = run_images(args.images, tmp)
            t = out["thumbnails"]
            print(f"{t['images']} thumbnails of 640x480 JPEGs: {t['seconds']:.2f} s "
                  f"({t['per_image_ms']:.1f} ms each), {t['kb_per_thumbnail']:.1f} kB each")
        cases = [(n, False, False) for n in args.sizes]
        cases += [(n, True, False) for n in args.sizes if args.uncapped and n > 50_000]
        cases += [(args.sizes[0], False, True)] if thumbs else []
        for n, uncapped, with_images in cases:
            row = run_size(browser, n, args.repeat, uncapped, tmp,
                           thumbs if with_images else None)
            out["pages"].append(row)
            print(f"{n:>7} rows, embedded {row['embedded']:>7}, {row['thumbnails']:>6} "
                  f"thumbnails: page {row['page_mb']:6.1f} MB, built in {row['build_s']:5.2f} s;"
                  f" first render {row['first_render_ms']:6.0f} ms, search "
                  f"{row['search_ms']:5.0f} ms, filter {row['filter_ms']:5.0f} ms, JS heap "
                  f"{row['js_heap_mb']:5.0f} MB", flush=True)
    out["machine"]["load_after"] = os.getloadavg()[0]
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
