#!/usr/bin/env python3
"""The review benchmark (`make bench-review`): a reviewer clearing review-band results of the
public invoice set, in the review UI by keyboard (Debian's headless Chromium driven by
tests/system/browser/review.mjs) and through the REST API the way a script of curl commands
would, counting the keystrokes and requests each decision takes and timing both.

    python3 bench/review.py --key KEY [--gateway URL] [--data DIR] [--count 100]

It uploads DIR's refs.csv (default: the shared bench's data/invoices_public_s1), submits its
docs.csv as a job, creates the committed invoice config (bench/configs/invoices.json) and runs it
twice over the job (the same results: one run for each way of reviewing). The committed config is
sure of nearly every invoice (one result of the public set's 2,000 in its review band), so the
bench sets a cautious threshold (`--threshold 0.995`, review band from `--review-floor 0.1`), and a
harder set gives a day's worth of results to review:

    python3 bench/gen_invoices_hard.py --docs 4000 --refs 10000 --seed 11 --out DIR
    make bench-review BENCH_ARGS="--data DIR"

Then:

  * UI: sign in, open the first run, `j`, and one key per decision (`a`, or `1` where nothing is
    matched) for `--count` results waiting for review;
  * API: for `--count` results of the second run, what a script does per decision — fetch the
    next result waiting for review (`GET …/results?status=needs_review&limit=1`) and post the
    decision (`POST …/results/{id}/review`).

Standard library only (and node with playwright-core from `make test-tools`).
"""
from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import subprocess
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.abspath(os.environ.get("CONCORD_BENCH_DIR", os.path.join(REPO, "..", "shared", "bench")))


class Api:
    def __init__(self, base: str, key: str):
        url = urllib.parse.urlparse(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=300)
        self.key = key
        self.requests = 0

    def call(self, method, path, body=None, content_type="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        headers = {"Authorization": f"Bearer {self.key}"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The gateway closed the idle keep-alive connection (the browser took a while): the
            # request was not read; send it again on a new one.
            self.conn.close()
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        self.requests += 1
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: {response.status} {data[:400]!r}")
        return json.loads(data) if data else None


def wait(api: Api, run_id: str) -> dict:
    while True:
        state = api.call("GET", f"/v1/matching/runs/{run_id}")
        if state["status"] in ("completed", "failed", "cancelled"):
            if state["status"] != "completed":
                raise SystemExit(f"run {run_id} ended {state['status']}")
            return state
        time.sleep(0.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--key", required=True)
    ap.add_argument("--gateway", default=os.environ.get("CONCORD_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--data", default=os.path.join(BENCH, "data", "invoices_public_s1"))
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--threshold", type=float, default=0.995,
                    help="the config's threshold: a cautious one sends more results to review")
    ap.add_argument("--review-floor", type=float, default=0.1)
    args = ap.parse_args()
    api = Api(args.gateway, args.key)

    with open(os.path.join(args.data, "refs.csv"), "rb") as f:
        dataset = api.call("POST", "/v1/reference-data?name=review-bench&id_column=ref_id", f.read(), "text/csv")
    with open(os.path.join(args.data, "docs.csv"), newline="") as f:
        docs = [{"document_id": row.pop("document_id"), "filename": row.pop("document_filename", None) or None,
                 "values": {k: (v or None) for k, v in row.items()}} for row in csv.DictReader(f)]
    ndjson = "".join(json.dumps(d) + "\n" for d in docs)
    job = api.call("POST", "/v1/jobs?name=review-bench", ndjson, "application/x-ndjson")
    config = json.load(open(os.path.join(REPO, "bench", "configs", "invoices.json")))
    config["reference_data_id"] = dataset["id"]
    config["threshold"] = args.threshold
    config["review_band"] = {"lower": args.review_floor}
    config = api.call("POST", "/v1/matching/configs", config)
    runs = []
    for _ in range(2):
        run = api.call("POST", f"/v1/matching/configs/{config['id']}/run", {"job_id": job["id"]})
        runs.append(wait(api, run["id"]))
    waiting = api.call("GET", f"/v1/matching/runs/{runs[0]['id']}/results?status=needs_review&limit=1000")["data"]
    count = min(args.count, len(waiting))
    print(f"[review] {len(docs):,} invoices, {len(waiting):,} results waiting for review in a run; "
          f"reviewing {count} each way", flush=True)

    # The UI, by keyboard.
    browser_dir = os.path.join(REPO, "tests", "system", "browser")
    started = time.perf_counter()
    out = subprocess.run(["node", "review.mjs", args.gateway, args.key, runs[0]["id"], str(count), ""],
                         cwd=browser_dir, capture_output=True, text=True, check=False)
    ui_seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"the browser run failed:\n{out.stdout}\n{out.stderr}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    decided = api.call("GET", f"/v1/matching/runs/{runs[0]['id']}/results?status=approved&limit=1000")["data"]
    if len(decided) != count or report["foreign"]:
        raise SystemExit(f"UI: {len(decided)} approved for {count} keystrokes; foreign requests {report['foreign']}")

    # The API, as a script of curl commands would do it.
    api.requests = 0
    started = time.perf_counter()
    for _ in range(count):
        page = api.call("GET", f"/v1/matching/runs/{runs[1]['id']}/results?status=needs_review&limit=1")
        result = page["data"][0]
        body = {"status": "approved"}
        if result["matched_reference_row_id"] is None:
            body["matched_reference_row_id"] = result["candidates"][0]["reference_row_id"]
        api.call("POST", f"/v1/matching/runs/{runs[1]['id']}/results/{result['id']}/review", body)
    api_seconds = time.perf_counter() - started
    api_requests = api.requests

    ui_ms = report["decisions_ms"]
    print(f"[review] UI: {count} decisions in {ui_ms / 1000:.1f} s ({ui_ms / count:.0f} ms a decision, page load "
          f"included; {ui_seconds:.1f} s with the browser's start and sign-in); {report['keystrokes']} keystrokes "
          f"({(report['keystrokes'] - 2) / count:.2f} a decision after sign-in and `j`), "
          f"{report['requests']} browser requests ({report['requests'] / count:.1f} a decision, page and assets)")
    print(f"[review] API: {count} decisions in {api_seconds:.1f} s ({api_seconds / count * 1000:.0f} ms a decision); "
          f"{api_requests} requests ({api_requests / count:.0f} a decision), each a command with a key, a URL "
          f"and (for the decision) a JSON body")


if __name__ == "__main__":
    main()
