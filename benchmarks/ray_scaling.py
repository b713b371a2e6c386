"""Audit throughput on Ray Data with 1 and 2 workers (embedded judge, VLSBench, no cache).

Each configuration runs in a fresh Python process (nothing shared, no cache):

- local:       `vsil.audit` single process, torch's default thread count (honest baseline);
- local-1t:    the same with ``torch.set_num_threads(1)``;
- ray-1w:      `audit_ray` on a local Ray cluster (``num_cpus=2``), one fused actor, 1 torch
               thread per actor;
- ray-2w:      the same with two actors.

Reported per configuration: end-to-end seconds and pairs/s (for Ray: from the audit call to
the rows read back, actor start-up and model load included; Ray's own start is excluded and
reported separately); for Ray also the pool start (call to first batch started: actor
processes, imports, model loads) and the span (first batch started to last batch finished),
whose pairs/s is the steady-state throughput. The scaling figures are ray-2w over ray-1w.

``--copies K`` audits K copies of the rows; copy k > 0 has " [copy k]" appended to its query
and image description, so that no text repeats and every copy costs what the first does.

Two controls measure what the machine allows:
- "ceiling": the same pure-Python loop split over 1 and 2 processes (about 2.0x on an idle
  2-core machine; on a shared one it shows how much of a second core other jobs leave);
- "encode ceiling": the bare MiniLM encode of the audit's texts (1 torch thread) in 1 process,
  against half of them in each of 2 processes, model loads excluded: the most any 2-worker
  engine can gain on this workload here.

Usage: python benchmarks/ray_scaling.py [--n 2241] [--copies 1] [--batch-size 512] [--repeat 1]
       [--configs local,local-1t,ray-1w,ray-2w] [--no-encode-ceiling] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

DATA = textwrap.dedent("""
    import vsil
    def bench_data(n, copies):
        base = vsil.load("vlsbench").samples[:n]
        rows = list(base)
        for k in range(1, copies):
            tag = f" [copy {k}]"
            rows += [s.model_copy(update={
                "id": f"{s.id}#{k}", "text": s.text + tag,
                "image_text": (s.image_text + tag) if s.image_text else s.image_text})
                for s in base]
        return vsil.Dataset(samples=rows, name="vlsbench")
""")

LOCAL = DATA + textwrap.dedent("""
    import json, sys, time
    n, copies, threads = (int(a) for a in sys.argv[1:4])
    if threads:
        import torch
        torch.set_num_threads(threads)
    ds = bench_data(n, copies)
    t0 = time.perf_counter()
    r = vsil.audit(ds, cache=False, quiet=True)
    t = time.perf_counter() - t0
    f = r.summary.figures
    print(json.dumps({"seconds": t, "n": len(ds), "r1": f.r1, "r2": f.r2}))
""")

RAY = DATA + textwrap.dedent("""
    import json, sys, tempfile, time
    import pyarrow.parquet as pq
    import ray
    from vsil.audit.engines.ray import RayOptions, audit_ray
    n, copies, workers, batch = (int(a) for a in sys.argv[1:5])
    ds = bench_data(n, copies)
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    t1 = time.perf_counter()
    out_dir = tempfile.mkdtemp(prefix="vsil-bench-") + "/rows"
    start = time.time()
    out = audit_ray(ds, "embedded", None, ("embedding", "lexical"), "auto", False,
                    options=RayOptions(concurrency={"audit": workers}, torch_threads=1,
                                       batch_size=batch, parquet_dir=out_dir))
    t2 = time.perf_counter()
    first = float(pq.read_table(out_dir, columns=["_batch_start"]).column(0).to_numpy().min())
    r1 = sum(bool(v.unsafe) for v in out.pair) / len(ds)
    print(json.dumps({"seconds": t2 - t1, "ray_init_s": t1 - t0, "span_s": out.span_s,
                      "pool_start_s": first - start, "n": len(ds), "r1": r1}))
""")

ENCODE = DATA + textwrap.dedent("""
    import json, sys, time
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp

    def encode(texts):
        import torch
        torch.set_num_threads(1)
        from vsil.detectors import Encoder
        enc = Encoder()
        enc.warmup()
        t0 = time.perf_counter()
        enc.encode(texts)
        return time.perf_counter() - t0

    if __name__ == "__main__":
        ds = bench_data(*(int(a) for a in sys.argv[1:3]))
        texts = list(dict.fromkeys([s.text for s in ds] + [s.image_text or "" for s in ds]))
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            one = pool.submit(encode, texts).result()
        with ProcessPoolExecutor(2, mp_context=ctx) as pool:
            halves = [pool.submit(encode, texts[k::2]) for k in (0, 1)]
            two = max(f.result() for f in halves)
        print(json.dumps({"one_s": one, "two_s": two, "encode_ceiling": one / two,
                          "texts": len(texts)}))
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
    with tempfile.TemporaryDirectory() as tmp:  # a file, so that spawned children can import it
        script = os.path.join(tmp, "bench_job.py")
        with open(script, "w") as fh:
            fh.write(code)
        out = subprocess.run([sys.executable, script, *map(str, args)], capture_output=True,
                             text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2241, help="VLSBench rows (default: all)")
    ap.add_argument("--copies", type=int, default=1,
                    help="audit this many distinct copies of the rows (default 1)")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--configs", default="local,local-1t,ray-1w,ray-2w",
                    help="comma-separated subset of the configurations to run")
    ap.add_argument("--no-encode-ceiling", action="store_true",
                    help="skip the bare-encode control")
    args = ap.parse_args()
    wanted = set(args.configs.split(","))
    runs: list[dict[str, object]] = []
    for _ in range(args.repeat):
        for name, code, extra in [("local", LOCAL, (0,)), ("local-1t", LOCAL, (1,)),
                                  ("ray-1w", RAY, (1, args.batch_size)),
                                  ("ray-2w", RAY, (2, args.batch_size))]:
            if name not in wanted:
                continue
            load0 = os.getloadavg()[0]
            ceil = ceiling()
            res = _run(code, args.n, args.copies, *extra)
            res.update(config=name, pairs_per_s=res["n"] / res["seconds"], load_avg_1m=load0,
                       machine_ceiling=ceil)
            if "span_s" in res:
                res["pairs_per_s_span"] = res["n"] / res["span_s"]
            runs.append(res)
            print(json.dumps(res), flush=True)
    encode = None if args.no_encode_ceiling else _run(ENCODE, args.n, args.copies)
    if encode:
        print(json.dumps(encode), flush=True)
    best: dict[str, dict[str, object]] = {}
    for r in runs:
        cur = best.get(str(r["config"]))
        if cur is None or float(r["seconds"]) < float(cur["seconds"]):  # type: ignore[arg-type]
            best[str(r["config"])] = r
    print(f"\n{'config':10s} {'seconds':>8s} {'pairs/s':>8s} {'start_s':>8s} {'span_s':>7s}"
          f" {'span pairs/s':>13s}")
    for name, r in best.items():
        line = f"{name:10s} {float(r['seconds']):8.1f} {float(r['pairs_per_s']):8.1f}"  # type: ignore[arg-type]
        if "span_s" in r:
            line += (f" {float(r['pool_start_s']):8.1f} {float(r['span_s']):7.1f}"  # type: ignore[arg-type]
                     f" {float(r['pairs_per_s_span']):13.1f}")  # type: ignore[arg-type]
        print(line)
    speedup = speedup_span = None
    if "ray-1w" in best and "ray-2w" in best:
        one, two = best["ray-1w"], best["ray-2w"]
        speedup = float(one["seconds"]) / float(two["seconds"])  # type: ignore[arg-type]
        speedup_span = float(one["span_s"]) / float(two["span_s"])  # type: ignore[arg-type]
        print(f"ray 2 workers / 1 worker: {speedup:.2f}x end to end, "
              f"{speedup_span:.2f}x steady state (span)")
    ceils = [float(r["machine_ceiling"]) for r in runs]  # type: ignore[arg-type]
    if ceils:
        print(f"machine ceiling (2 processes / 1): {min(ceils):.2f}x to {max(ceils):.2f}x")
    if encode:
        print(f"encode ceiling (bare MiniLM, 2 processes / 1): {encode['encode_ceiling']:.2f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"runs": runs, "best": best, "speedup": speedup,
                       "speedup_span": speedup_span, "encode_control": encode,
                       "cpu_count": os.cpu_count()}, fh, indent=1)

if __name__ == "__main__":
    main()
