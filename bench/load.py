#!/usr/bin/env python3
"""The load suite (`make load`): fixed-rate, open-loop load on the running stack's REST API, on
loopback, bounded in count and time, measured by `concord-load` (crates/load: every latency from
the request's *scheduled* send time, so a stall is not hidden by a client that waits for it).

Seeds what it measures through the API like a user — a reference data set and a job (an invoice
set of bench/gen_invoices_hard.py --hard-rate 0, i.e. the shared generator's, --docs x --docs), a probabilistic config (bench/configs/invoices.json)
and a completed matching run — then measures, each at fixed rates for --duration seconds after a
--warmup at the same rate:

* run detail        GET  /v1/matching/runs/{id}                 (goal: p99 <= 10 ms at 2,000/s, no errors;
                                                                 the answer carries the top 50 results: ~100 KB)
* run progress      GET  /v1/matching/runs/{id}/progress        (what a dashboard polls: a small answer)
* results pages     GET  /v1/matching/runs/{id}/results?limit=50  (pages taken in turn by their cursors)
* job submission    POST /v1/jobs                               (10 documents each, JSON)
* real-time match   POST /v1/matching/configs/{id}/match         (one document each, a warm index)

    python3 bench/load.py --key KEY [--duration 10] [--warmup 1] [--only run-detail,...] [--json out.json]

Standard library only. The gateway's rate limit must be above the rates (deploy/bench.sh sets
CONCORD_RATE_LIMIT_PER_MINUTE for `make load`).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.expanduser("~"), ".cache", "concord-target"))

# (name, rates): what is measured and at which rates (requests per second).
MEASUREMENTS = [
    ("run-detail", [500, 1000, 2000]),
    ("run-progress", [1000, 2000]),
    ("results-page", [500, 1000]),
    ("job-submission", [50, 200]),
    ("realtime-match", [100, 200]),
]
GOAL = dict(endpoint="run-detail", rate=2000, p99_ms=10.0)


class Api:
    def __init__(self, base: str, key: str):
        self.base = base.rstrip("/")
        self.key = key

    def request(self, method: str, path: str, body=None, content_type: str | None = None, raw: bool = False,
                ok_statuses=(200, 201, 202)):
        headers = {"Authorization": f"Bearer {self.key}"}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=600) as resp:
                data = resp.read()
                status = resp.status
        except urllib.error.HTTPError as error:
            data = error.read()
            status = error.code
            if status not in ok_statuses:
                raise SystemExit(f"{method} {path}: {status} {data.decode(errors='replace')[:1000]}")
        return data if raw else json.loads(data or b"null")


def ndjson_of(docs_csv: str, out: str) -> list[dict]:
    docs = []
    with open(docs_csv, newline="", encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for row in csv.DictReader(src):
            document_id = row.pop("document_id")
            filename = row.pop("document_filename", None) or f"{document_id}.pdf"
            doc = {"document_id": document_id, "filename": filename,
                   "values": {k: (v if v != "" else None) for k, v in row.items()}}
            docs.append(doc)
            dst.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return docs


def seed(api: Api, workdir: str, docs: int) -> dict:
    data = os.path.join(workdir, f"load_invoices_{docs}_s5")
    if not os.path.exists(os.path.join(data, "truth.csv")):
        subprocess.run([sys.executable, os.path.join(REPO, "bench", "gen_invoices_hard.py"), "--hard-rate", "0",
                        "--docs", str(docs), "--refs", str(docs), "--seed", "5", "--out", data], check=True,
                       stdout=subprocess.DEVNULL)
    with open(os.path.join(data, "refs.csv"), "rb") as f:
        dataset = api.request("POST", "/v1/reference-data?name=load-refs&id_column=ref_id", f.read(), "text/csv")
    ndjson = os.path.join(workdir, "load-docs.ndjson")
    documents = ndjson_of(os.path.join(data, "docs.csv"), ndjson)
    with open(ndjson, "rb") as f:
        job = api.request("POST", "/v1/jobs?name=load-seed", f.read(), "application/x-ndjson")
    config = json.load(open(os.path.join(REPO, "bench", "configs", "invoices.json")))
    config["name"] = f"load-{int(time.time())}"
    config["reference_data_id"] = dataset["id"]
    config = api.request("POST", "/v1/matching/configs", config)
    run = api.request("POST", f"/v1/matching/configs/{config['id']}/run", {"job_id": job["id"]})
    deadline = time.time() + 600
    while True:
        detail = api.request("GET", f"/v1/matching/runs/{run['id']}")
        if detail["status"] in ("completed", "failed", "cancelled"):
            break
        if time.time() > deadline:
            raise SystemExit(f"the seed run {run['id']} did not end in 10 minutes")
        time.sleep(0.2)
    if detail["status"] != "completed":
        raise SystemExit(f"the seed run ended {detail['status']}: {detail.get('error')}")
    # The first pages' cursors, so that the results load reads several pages in turn.
    pages = [f"/v1/matching/runs/{run['id']}/results?limit=50"]
    cursor_path = pages[0]
    for _ in range(9):
        page = api.request("GET", cursor_path)
        if not page["pagination"]["has_more"]:
            break
        cursor_path = f"/v1/matching/runs/{run['id']}/results?limit=50&cursor={page['pagination']['next_cursor']}"
        pages.append(cursor_path)
    # Warm the real-time index: the first request builds it (503 index_warming meanwhile).
    match_body = {"values": documents[0]["values"]}
    for _ in range(120):
        answer = api.request("POST", f"/v1/matching/configs/{config['id']}/match", match_body,
                             ok_statuses=(200, 503))
        if isinstance(answer, dict) and "decision" in answer:
            break
        time.sleep(0.5)
    else:
        raise SystemExit("the real-time match never answered (index still warming after a minute)")
    return dict(run_id=run["id"], config_id=config["id"], job_id=job["id"], pages=pages, documents=documents)


def load_args(api: Api, name: str, seeded: dict, workdir: str) -> list[str]:
    base = api.base
    auth = ["-H", f"Authorization: Bearer {api.key}"]
    if name == "run-detail":
        return ["--url", f"{base}/v1/matching/runs/{seeded['run_id']}", *auth]
    if name == "run-progress":
        return ["--url", f"{base}/v1/matching/runs/{seeded['run_id']}/progress", *auth]
    if name == "results-page":
        urls = []
        for page in seeded["pages"]:
            urls += ["--url", base + page]
        return [*urls, *auth]
    if name == "job-submission":
        body = os.path.join(workdir, "job-body.json")
        with open(body, "w", encoding="utf-8") as f:
            json.dump({"name": "load-submission", "documents": seeded["documents"][:10]}, f)
        return ["--url", f"{base}/v1/jobs", "--method", "POST", "--body-file", body,
                "-H", "Content-Type: application/json", *auth]
    if name == "realtime-match":
        body = os.path.join(workdir, "match-body.json")
        with open(body, "w", encoding="utf-8") as f:
            json.dump({"values": seeded["documents"][1]["values"]}, f)
        return ["--url", f"{base}/v1/matching/configs/{seeded['config_id']}/match", "--method", "POST",
                "--body-file", body, "-H", "Content-Type: application/json", *auth]
    raise SystemExit(f"unknown measurement {name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", default=os.environ.get("CONCORD_GATEWAY", "http://127.0.0.1:8080"))
    ap.add_argument("--key", required=True)
    ap.add_argument("--load-bin", default=os.path.join(TARGET, "release", "concord-load"))
    ap.add_argument("--docs", type=int, default=2000, help="documents (and reference rows) of the seeded run")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per endpoint and rate")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--only", help="comma-separated measurement names: " + ", ".join(n for n, _ in MEASUREMENTS))
    ap.add_argument("--rates", help="override the rates of every measurement, comma-separated")
    ap.add_argument("--json", help="write every report to this file")
    args = ap.parse_args()
    if not os.access(args.load_bin, os.X_OK):
        raise SystemExit(f"{args.load_bin} is missing: cargo build --release -p concord-load")
    only = set(args.only.split(",")) if args.only else None
    api = Api(args.gateway, args.key)
    reports = []
    with tempfile.TemporaryDirectory(prefix="concord-load-") as workdir:
        print(f"[load] seeding: {args.docs:,} documents x {args.docs:,} reference rows, a config, a run", flush=True)
        seeded = seed(api, workdir, args.docs)
        print(f"[load] seeded run {seeded['run_id']}", flush=True)
        for name, rates in MEASUREMENTS:
            if only and name not in only:
                continue
            if args.rates:
                rates = [int(r) for r in args.rates.split(",")]
            for rate in rates:
                cmd = [args.load_bin, "--rate", str(rate), "--duration", str(args.duration), "--warmup",
                       str(args.warmup), "--label", name, *load_args(api, name, seeded, workdir)]
                proc = subprocess.run(cmd, capture_output=True, text=True,
                                      timeout=args.duration + args.warmup + 120)
                if proc.returncode != 0:
                    raise SystemExit(f"concord-load failed ({name} at {rate}/s): {proc.stderr[-2000:]}")
                report = json.loads(proc.stdout)
                reports.append(report)
                lat = report["latency_ms"]
                print(f"[load] {name} at {rate}/s: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, "
                      f"max {lat['max']:.1f} ms, {report['achieved_rate']:.0f}/s achieved, "
                      f"{report['errors']} errors of {report['requests']}", flush=True)
                time.sleep(1)

    print()
    print("| endpoint | rate /s | requests | achieved /s | p50 ms | p90 ms | p99 ms | max ms | errors | error rate |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in reports:
        lat = r["latency_ms"]
        kinds = ", ".join(f"{k} {v}" for k, v in r["error_kinds"].items())
        print(f"| {r['label']} | {r['target_rate']:,} | {r['requests']:,} | {r['achieved_rate']:,.0f} | "
              f"{lat['p50']:.2f} | {lat['p90']:.2f} | {lat['p99']:.2f} | {lat['max']:.1f} | "
              f"{r['errors']}{(' (' + kinds + ')') if kinds else ''} | {r['error_rate']:.4f} |")
    goal = next((r for r in reports if r["label"] == GOAL["endpoint"] and r["target_rate"] == GOAL["rate"]), None)
    if goal is not None:
        met = goal["latency_ms"]["p99"] <= GOAL["p99_ms"] and goal["errors"] == 0
        print(f"\ngoal: {GOAL['endpoint']} at {GOAL['rate']:,}/s p99 <= {GOAL['p99_ms']} ms with no errors: "
              f"{'met' if met else 'NOT met'} (p99 {goal['latency_ms']['p99']:.2f} ms, {goal['errors']} errors)")
    print("latency = from each request's scheduled send time to its whole answer read (open loop, corrected "
          "for coordinated omission); the load generator shares the machine's cores with the stack.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, indent=2)


if __name__ == "__main__":
    main()
