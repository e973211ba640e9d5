#!/usr/bin/env python3
"""The real-time match benchmark (`make bench-realtime`): latency of
`POST /v1/matching/configs/{id}/match` through the running stack, measured by a client on loopback.

    python3 bench/realtime.py --key KEY [--gateway URL] [--refs 1000000] [--docs 2000] \
        [--rate 200] [--seconds 20] [--sequential 500] [--workdir DIR]

It generates an invoice set with bench/gen_invoices_hard.py --hard-rate 0 (the shared generator's
set; seed 4; `--refs` reference rows), uploads the reference rows, submits the documents as a job, creates the committed invoice config
(bench/configs/invoices.json) and runs it once (the run trains the config's model and warms the
matching worker's index). Then, for documents of the set:

  * agreement: each document matched in real time gives the row and confidence its run gave;
  * sequential latency: one request at a time (`--sequential` requests);
  * load: an open loop at `--rate` requests per second for `--seconds` seconds, each request sent
    on schedule whether or not earlier ones were answered (so a slow answer cannot hide the
    queueing it causes), from one event loop over 32 keep-alive connections; latency is measured
    from the scheduled send time.

The gateway must allow the rate: start it with `CONCORD_RATE_LIMIT_PER_MINUTE` above 60 x rate.
Standard library only.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Client:
    """One keep-alive connection per thread."""

    def __init__(self, base: str, key: str):
        url = urllib.parse.urlparse(base)
        self.host, self.port = url.hostname, url.port or 80
        self.key = key
        self.local = threading.local()

    def conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.local.conn = conn
        return conn

    def request(self, method: str, path: str, body=None, content_type: str = "application/json"):
        headers = {"Authorization": f"Bearer {self.key}"}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        if body is not None:
            headers["Content-Type"] = content_type
        for attempt in range(2):
            conn = self.conn()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, dict(resp.getheaders()), data
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self.local.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, body=None, content_type: str = "application/json", ok=(200, 201, 202)):
        status, _, data = self.request(method, path, body, content_type)
        if status not in ok:
            raise SystemExit(f"{method} {path}: {status} {data[:2000].decode(errors='replace')}")
        return json.loads(data or b"null")


def generate(workdir: str, docs: int, refs: int) -> str:
    out = os.path.join(workdir, f"realtime_{docs}x{refs}_s4")
    if not os.path.exists(os.path.join(out, "truth.csv")):
        print(f"[realtime] generating {docs:,} documents x {refs:,} reference rows", flush=True)
        subprocess.run([sys.executable, os.path.join(REPO, "bench", "gen_invoices_hard.py"), "--hard-rate", "0",
                        "--docs", str(docs), "--refs", str(refs), "--seed", "4", "--out", out], check=True)
    return out


def read_docs(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    docs = []
    for row in rows:
        doc_id = row.pop("document_id")
        filename = row.pop("document_filename", None)
        docs.append({"document_id": doc_id, "filename": filename,
                     "values": {k: (v if v != "" else None) for k, v in row.items()}})
    return docs


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def summary(latencies_ms: list[float]) -> str:
    return (f"p50 {percentile(latencies_ms, 50):.2f} ms, p90 {percentile(latencies_ms, 90):.2f} ms, "
            f"p99 {percentile(latencies_ms, 99):.2f} ms, max {max(latencies_ms):.2f} ms, "
            f"mean {statistics.mean(latencies_ms):.2f} ms over {len(latencies_ms):,}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--key", required=True)
    ap.add_argument("--gateway", default=os.environ.get("CONCORD_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--refs", type=int, default=1_000_000)
    ap.add_argument("--docs", type=int, default=2_000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--sequential", type=int, default=500)
    ap.add_argument("--agreement", type=int, default=500)
    ap.add_argument("--workdir", default=os.path.join(os.path.expanduser("~"), ".cache", "concord-bench"))
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    api = Client(args.gateway, args.key)

    data = generate(args.workdir, args.docs, args.refs)
    t = time.perf_counter()
    with open(os.path.join(data, "refs.csv"), "rb") as f:
        dataset = api.json("POST", "/v1/reference-data?name=realtime-bench&id_column=ref_id", f.read(), "text/csv")
    print(f"[realtime] {dataset['row_count']:,} reference rows uploaded in {time.perf_counter() - t:.1f} s",
          flush=True)
    docs = read_docs(os.path.join(data, "docs.csv"))
    ndjson = "".join(json.dumps(d) + "\n" for d in docs).encode()
    job = api.json("POST", "/v1/jobs?name=realtime-bench", ndjson, "application/x-ndjson")
    config = json.load(open(os.path.join(REPO, "bench", "configs", "invoices.json")))
    config["reference_data_id"] = dataset["id"]
    config = api.json("POST", "/v1/matching/configs", config)
    run = api.json("POST", f"/v1/matching/configs/{config['id']}/run", {"job_id": job["id"]})
    t = time.perf_counter()
    while True:
        state = api.json("GET", f"/v1/matching/runs/{run['id']}")
        if state["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.5)
    if state["status"] != "completed":
        raise SystemExit(f"the run ended {state['status']}: {state}")
    print(f"[realtime] run of {args.docs:,} documents completed in {time.perf_counter() - t:.1f} s "
          "(model trained, index warm)", flush=True)
    results = {}
    cursor = None
    while True:
        query = "?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        page = api.json("GET", f"/v1/matching/runs/{run['id']}/results{query}")
        for r in page["data"]:
            results[r["document_id"]] = r
        cursor = page["pagination"]["next_cursor"]
        if not cursor:
            break

    path = f"/v1/matching/configs/{config['id']}/match"
    bodies = [json.dumps({"document_id": d["document_id"], "values": d["values"]}).encode() for d in docs]
    # Warm: until this worker answers from its index.
    deadline = time.monotonic() + 600
    while True:
        status, headers, body = api.request("POST", path, bodies[0])
        if status == 200:
            break
        if status != 503 or time.monotonic() > deadline:
            raise SystemExit(f"match: {status} {body[:500]!r}")
        time.sleep(float(headers.get("Retry-After", headers.get("retry-after", "1"))))

    agree = exact = 0
    worst = 0.0
    checked = docs[: args.agreement]
    for d, body in zip(checked, bodies):
        status, _, answer = api.request("POST", path, body)
        answer = json.loads(answer)
        stored = results[d["document_id"]]
        if status == 200 and answer["matched_reference_row_id"] == stored["matched_reference_row_id"] \
                and answer["status"] == stored["status"] \
                and [c["reference_row_id"] for c in answer["candidates"]] == \
                [c["reference_row_id"] for c in stored["candidates"]]:
            agree += 1
            worst = max(worst, abs(answer["confidence"] - stored["confidence"]))
            exact += answer["confidence"] == stored["confidence"]
    print(f"[realtime] agreement with the run: {agree}/{len(checked)} documents with the same row, status and "
          f"candidates; confidence bit-identical in {exact}, largest difference {worst:.1e}", flush=True)

    sequential = []
    for i in range(args.sequential):
        started = time.perf_counter()
        status, _, _ = api.request("POST", path, bodies[i % len(bodies)])
        sequential.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"sequential request {i}: {status}")
    print(f"[realtime] sequential: {summary(sequential)}", flush=True)

    latencies, statuses = asyncio.run(open_loop(args.gateway, args.key, path, bodies, args.rate, args.seconds))
    print(f"[realtime] open loop at {args.rate:.0f}/s for {args.seconds:.0f} s ({args.refs:,} reference rows): "
          f"{summary(latencies)}; statuses {statuses}", flush=True)


async def open_loop(base: str, key: str, path: str, bodies: list[bytes], rate: float, seconds: float,
                    connections: int = 32):
    """Sends request i at start + i / rate on one event loop (threads' sleeps add milliseconds of
    their own jitter at this rate), over a pool of keep-alive connections; the latency of each
    is from its scheduled time to the end of its answer."""
    url = urllib.parse.urlparse(base)
    requests = [
        (f"POST {path} HTTP/1.1\r\nHost: {url.hostname}\r\nAuthorization: Bearer {key}\r\n"
         f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        for body in bodies
    ]
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection(url.hostname, url.port or 80))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(i: int, scheduled: float) -> None:
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        reader, writer = await pool.get()
        writer.write(requests[i % len(requests)])
        status = int((await reader.readline()).split()[1])
        length = 0
        while True:
            header = await reader.readline()
            if header in (b"\r\n", b""):
                break
            name, _, value = header.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        latencies.append((time.perf_counter() - scheduled) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
        pool.put_nowait((reader, writer))

    start = time.perf_counter() + 0.2
    await asyncio.gather(*(one(i, start + i / rate) for i in range(int(rate * seconds))))
    return latencies, statuses

if __name__ == "__main__":
    main()
