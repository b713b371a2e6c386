"""Throughput of the OpenAI-compatible judge against a local server with 100 ms latency.

Compares the way the official VLSBench code calls its judge (one request at a time with the
sync ``openai`` client, no cache) with `OpenAIJudge` at its default, adaptive concurrency (no
flag) and at fixed concurrency 1, 8, 32 and 64, all in the same run. Loopback only; bounded
request counts. Usage::

    python benchmarks/judge_throughput.py [--latency 0.1] [--seconds 2.0] [--repeat 1]
        [--only adaptive,32] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vsil.detectors import JudgeInput
from vsil.detectors.judges.openai_judge import OpenAIJudge

REPLY = json.dumps({
    "id": "x", "object": "chat.completion", "created": 0, "model": "bench",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "safe"}}],
    "usage": {"prompt_tokens": 80, "completion_tokens": 1, "total_tokens": 81},
}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    latency = 0.1

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.latency)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(REPLY)))
        self.end_headers()
        self.wfile.write(REPLY)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def _serve(latency: float, port_out: Any) -> None:
    """The endpoint, in its own process (as a real server is): its threads do not compete
    with the client for the GIL."""
    _Handler.latency = latency
    httpd = _Server(("127.0.0.1", 0), _Handler)
    port_out.put(httpd.server_address[1])
    httpd.serve_forever()


def official_style(base_url: str, n: int) -> float:
    """VLSBench's way: the sync openai client, one request after another, no cache."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="none", max_retries=0)
    t0 = time.perf_counter()
    for i in range(n):
        client.chat.completions.create(
            model="bench", temperature=0.0, max_tokens=16,
            messages=[{"role": "user", "content": f"query {i}: safe or unsafe?"}])
    return n / (time.perf_counter() - t0)


def vsil_judge(base_url: str, n: int, concurrency: int | None
               ) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """Requests/s of `OpenAIJudge` (``concurrency=None``: the adaptive default), its usage
    and its concurrency state at the end."""
    judge = OpenAIJudge(model="bench", base_url=base_url, api_key="none",
                        concurrency=concurrency, logprobs=False)
    inputs = [JudgeInput(f"query {concurrency}-{i}") for i in range(n)]
    t0 = time.perf_counter()
    out: list[Any] = []
    for s in range(0, n, judge.batch_size):  # as the audit calls it: one cached batch at a time
        out += judge.judge(inputs[s:s + judge.batch_size])
    rate = n / (time.perf_counter() - t0)
    assert sum(v.unsafe is False for v in out) == n, "every request must come back labelled"
    return rate, judge.usage, judge.info()["concurrency"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--seconds", type=float, default=2.0, help="ideal duration per setting")
    ap.add_argument("--repeat", type=int, default=1, help="runs of every setting")
    ap.add_argument("--only", default="adaptive,1,8,32,64",
                    help="settings to run: 'adaptive' and/or fixed concurrencies")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    settings: list[int | None] = [None if s.strip() == "adaptive" else int(s)
                                  for s in args.only.split(",") if s.strip()]
    ports: Any = mp.Queue()
    server = mp.Process(target=_serve, args=(args.latency, ports), daemon=True)
    server.start()
    base_url = f"http://127.0.0.1:{ports.get(timeout=30)}/v1"
    per_s = 1.0 / args.latency
    rows: list[dict[str, Any]] = []
    try:
        for run in range(1, args.repeat + 1):
            n = max(10, int(per_s * args.seconds))
            seq = official_style(base_url, n)
            rows.append({"run": run, "setting": "VLSBench-style (sync openai, sequential)",
                         "concurrency": "1", "requests": n, "req_per_s": seq, "speedup": 1.0})
            for c in settings:
                # the adaptive run gets as many requests as fixed 32, so the two compare
                n = max(10, int(per_s * (c or 32) * args.seconds))
                rate, usage, conc = vsil_judge(base_url, n, c)
                rows.append({"run": run, "setting": "vsil OpenAIJudge",
                             "concurrency": "adaptive (default)" if c is None else str(c),
                             "requests": n, "req_per_s": rate, "speedup": rate / seq,
                             "retries": usage["retries"], "failures": usage["failures"],
                             "concurrency_state": conc})
    finally:
        server.terminate()
        server.join(5)
    print(f"latency {args.latency * 1000:.0f} ms per request; python "
          f"{platform.python_version()}; {platform.machine()}; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'run':>3s} {'setting':44s} {'conc':>18s} {'requests':>8s} {'req/s':>8s} "
          f"{'vs seq':>7s}  adaptive state")
    for r in rows:
        st = r.get("concurrency_state") or {}
        extra = (f"peak {st['peak']}, end {st['current']}, backoffs {st['backoffs']}"
                 if st.get("mode") == "adaptive" else "")
        print(f"{r['run']:3d} {r['setting']:44s} {r['concurrency']:>18s} {r['requests']:8d} "
              f"{r['req_per_s']:8.1f} {r['speedup']:6.1f}x  {extra}")
    for run in range(1, args.repeat + 1):
        by = {r["concurrency"]: r for r in rows if r["run"] == run}
        ad, c32 = by.get("adaptive (default)"), by.get("32")
        if ad is not None:
            vs32 = f", {ad['req_per_s'] / c32['req_per_s']:.2f}x fixed 32" if c32 else ""
            print(f"run {run}: adaptive default {ad['speedup']:.1f}x sequential{vs32}; "
                  f"target >= 20x sequential: {'met' if ad['speedup'] >= 20 else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
