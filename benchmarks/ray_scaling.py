"""Audit throughput on Ray Data with 1 and 2 workers (embedded judge, VLSBench, no cache).

Each configuration runs in a fresh Python process (nothing shared, no cache):

- local:       `vsil.audit` single process, torch's default thread count (honest baseline);
- local-1t:    the same with ``torch.set_num_threads(1)``;
- ray-1w:      `audit_ray` on a local Ray cluster (``num_cpus=2``), one fused actor, 1 torch
               thread per actor;
- ray-2w:      the same with two actors.

Reported per configuration: end-to-end seconds and pairs/s (for Ray: from the audit call to
the rows read back, actor start-up and model load included; Ray's own start is excluded and
reported separately), and for Ray the pipeline span (first batch started to last batch
finished). The scaling figure is ray-2w over ray-1w.

A control measures what the machine allows: the same pure-Python loop split over 1 and 2
processes ("ceiling"). On an idle 2-core machine it is about 2.0x; on a shared one it shows how
much of a second core other jobs leave, and the Ray figure should be read against it.

Usage: python benchmarks/ray_scaling.py [--n 2241] [--batch-size 64] [--repeat 1] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

LOCAL = textwrap.dedent("""
    import json, sys, time
    import vsil
    threads = int(sys.argv[2])
    if threads:
        import torch
        torch.set_num_threads(threads)
    ds = vsil.load("vlsbench")
    ds = vsil.Dataset(samples=ds.samples[:int(sys.argv[1])], name="vlsbench")
    t0 = time.perf_counter()
    r = vsil.audit(ds, cache=False, quiet=True)
    t = time.perf_counter() - t0
    f = r.summary.figures
    print(json.dumps({"seconds": t, "n": len(ds), "r1": f.r1, "r2": f.r2}))
""")

RAY = textwrap.dedent("""
    import json, os, sys, time
    import ray
    import vsil
    from vsil.audit.ray_engine import RayOptions, audit_ray
    n, workers, batch = (int(a) for a in sys.argv[1:4])
    ds = vsil.load("vlsbench")
    ds = vsil.Dataset(samples=ds.samples[:n], name="vlsbench")
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    t1 = time.perf_counter()
    out = audit_ray(ds, "embedded", None, ("embedding", "lexical"), "auto", False,
                    options=RayOptions(concurrency={"audit": workers}, torch_threads=1,
                                       batch_size=batch))
    t2 = time.perf_counter()
    r1 = sum(bool(v.unsafe) for v in out.pair) / len(ds)
    print(json.dumps({"seconds": t2 - t1, "ray_init_s": t1 - t0, "span_s": out.span_s,
                      "n": len(ds), "r1": r1}))
""")


def _spin(n: int) -> float:
    x = 0
    for i in range(n):
        x += i
    return float(x)


def ceiling(total: int = 30_000_000) -> float:
    """Speed-up of a pure-Python loop over 2 processes instead of 1 (same total work)."""
    import multiprocessing as mp
    import time

    t0 = time.perf_counter()
    _spin(total)
    one = time.perf_counter() - t0
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # start the workers outside the timing
        t0 = time.perf_counter()
        pool.map(_spin, [total // 2, total // 2])
        two = time.perf_counter() - t0
    return one / two


def _run(code: str, *args: object) -> dict[str, float]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VSIL_PROGRESS="0")
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                         text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2241, help="VLSBench rows (default: all)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    runs: list[dict[str, object]] = []
    for _ in range(args.repeat):
        for name, code, extra in [("local", LOCAL, (0,)), ("local-1t", LOCAL, (1,)),
                                  ("ray-1w", RAY, (1, args.batch_size)),
                                  ("ray-2w", RAY, (2, args.batch_size))]:
            load0 = os.getloadavg()[0]
            ceil = ceiling()
            res = _run(code, args.n, *extra)
            res.update(config=name, pairs_per_s=res["n"] / res["seconds"], load_avg_1m=load0,
                       machine_ceiling=ceil)
            if "span_s" in res:
                res["pairs_per_s_span"] = res["n"] / res["span_s"]
            runs.append(res)
            print(json.dumps(res), flush=True)
    best: dict[str, dict[str, object]] = {}
    for r in runs:
        cur = best.get(str(r["config"]))
        if cur is None or float(r["seconds"]) < float(cur["seconds"]):  # type: ignore[arg-type]
            best[str(r["config"])] = r
    one, two = best["ray-1w"], best["ray-2w"]
    speedup = float(one["seconds"]) / float(two["seconds"])  # type: ignore[arg-type]
    speedup_span = float(one["span_s"]) / float(two["span_s"])  # type: ignore[arg-type]
    print(f"\n{'config':10s} {'seconds':>8s} {'pairs/s':>8s} {'span_s':>7s}")
    for name, r in best.items():
        span = f"{float(r['span_s']):7.1f}" if "span_s" in r else "      -"  # type: ignore[arg-type]
        print(f"{name:10s} {float(r['seconds']):8.1f} {float(r['pairs_per_s']):8.1f} {span}")  # type: ignore[arg-type]
    print(f"ray 2 workers / 1 worker: {speedup:.2f}x end to end, {speedup_span:.2f}x span")
    ceils = [float(r["machine_ceiling"]) for r in runs]  # type: ignore[arg-type]
    print(f"machine ceiling (2 processes / 1): {min(ceils):.2f}x to {max(ceils):.2f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"runs": runs, "best": best, "speedup": speedup,
                       "speedup_span": speedup_span, "cpu_count": os.cpu_count()}, fh, indent=1)


if __name__ == "__main__":
    main()
